package netconf

import (
	"bytes"
	"context"
	"testing"
)

// rfcUsers is the data of RFC 6241 section 6.4.3, plus the interface
// statistics of 6.4.8.
const rfcUsers = `
<top xmlns="http://example.com/schema/1.2/config">
  <users>
    <user>
      <name>root</name>
      <type>superuser</type>
      <full-name>Charlie Root</full-name>
      <company-info><dept>1</dept><id>1</id></company-info>
    </user>
    <user>
      <name>fred</name>
      <type>admin</type>
      <full-name>Fred Flintstone</full-name>
      <company-info><dept>2</dept><id>2</id></company-info>
    </user>
    <user>
      <name>barney</name>
      <type>admin</type>
      <full-name>Barney Rubble</full-name>
      <company-info><dept>2</dept><id>3</id></company-info>
    </user>
  </users>
</top>
<t:top xmlns:t="http://example.com/schema/1.2/stats">
  <t:interfaces>
    <t:interface t:ifName="eth0"><t:ifInOctets>45621</t:ifInOctets><t:ifOutOctets>774344</t:ifOutOctets></t:interface>
    <t:interface t:ifName="eth1"><t:ifInOctets>1</t:ifInOctets><t:ifOutOctets>2</t:ifOutOctets></t:interface>
  </t:interfaces>
</t:top>`

const cfgNS = `xmlns="http://example.com/schema/1.2/config"`

func TestFilterSubtreeRFC6241Examples(t *testing.T) {
	for _, tc := range []struct {
		name, filter, want string
	}{
		{"6.4.2 empty filter", ``, ``},
		{"6.4.3 entire users subtree", `<top ` + cfgNS + `><users/></top>`,
			`<top ` + cfgNS + `><users><user><name>root</name><type>superuser</type><full-name>Charlie Root</full-name><company-info><dept>1</dept><id>1</id></company-info></user>` +
				`<user><name>fred</name><type>admin</type><full-name>Fred Flintstone</full-name><company-info><dept>2</dept><id>2</id></company-info></user>` +
				`<user><name>barney</name><type>admin</type><full-name>Barney Rubble</full-name><company-info><dept>2</dept><id>3</id></company-info></user></users></top>`},
		{"6.4.3 same with <user/>", `<top ` + cfgNS + `><users><user/></users></top>`,
			`<top ` + cfgNS + `><users><user><name>root</name><type>superuser</type><full-name>Charlie Root</full-name><company-info><dept>1</dept><id>1</id></company-info></user>` +
				`<user><name>fred</name><type>admin</type><full-name>Fred Flintstone</full-name><company-info><dept>2</dept><id>2</id></company-info></user>` +
				`<user><name>barney</name><type>admin</type><full-name>Barney Rubble</full-name><company-info><dept>2</dept><id>3</id></company-info></user></users></top>`},
		{"6.4.4 all names", `<top ` + cfgNS + `><users><user><name/></user></users></top>`,
			`<top ` + cfgNS + `><users><user><name>root</name></user><user><name>fred</name></user><user><name>barney</name></user></users></top>`},
		{"6.4.5 one user", `<top ` + cfgNS + `><users><user><name>fred</name></user></users></top>`,
			`<top ` + cfgNS + `><users><user><name>fred</name><type>admin</type><full-name>Fred Flintstone</full-name><company-info><dept>2</dept><id>2</id></company-info></user></users></top>`},
		{"6.4.5 content match trims white space", `<top ` + cfgNS + `><users><user><name>  fred
			</name></user></users></top>`,
			`<top ` + cfgNS + `><users><user><name>fred</name><type>admin</type><full-name>Fred Flintstone</full-name><company-info><dept>2</dept><id>2</id></company-info></user></users></top>`},
		{"6.4.6 elements of one user", `<top ` + cfgNS + `><users><user><name>fred</name><type/><full-name/></user></users></top>`,
			`<top ` + cfgNS + `><users><user><name>fred</name><type>admin</type><full-name>Fred Flintstone</full-name></user></users></top>`},
		{"6.4.7 multiple subtrees", `<top ` + cfgNS + `><users>` +
			`<user><name>root</name><company-info/></user>` +
			`<user><name>fred</name><company-info><id/></company-info></user>` +
			`<user><name>barney</name><type>superuser</type><company-info><dept/></company-info></user>` +
			`</users></top>`,
			`<top ` + cfgNS + `><users><user><name>root</name><company-info><dept>1</dept><id>1</id></company-info></user>` +
				`<user><name>fred</name><company-info><id>2</id></company-info></user></users></top>`},
		{"6.4.8 attribute match", `<t:top xmlns:t="http://example.com/schema/1.2/stats"><t:interfaces><t:interface t:ifName="eth0"/></t:interfaces></t:top>`,
			`<top xmlns="http://example.com/schema/1.2/stats" xmlns:t="http://example.com/schema/1.2/stats"><interfaces>` +
				`<interface xmlns:nca0="http://example.com/schema/1.2/stats" nca0:ifName="eth0"><ifInOctets>45621</ifInOctets><ifOutOctets>774344</ifOutOctets></interface>` +
				`</interfaces></top>`},
		{"6.2.1 namespace selects", `<top xmlns="http://example.com/schema/1.2/stats"/>`,
			`<top xmlns="http://example.com/schema/1.2/stats" xmlns:t="http://example.com/schema/1.2/stats"><interfaces>` +
				`<interface xmlns:nca0="http://example.com/schema/1.2/stats" nca0:ifName="eth0"><ifInOctets>45621</ifInOctets><ifOutOctets>774344</ifOutOctets></interface>` +
				`<interface xmlns:nca0="http://example.com/schema/1.2/stats" nca0:ifName="eth1"><ifInOctets>1</ifInOctets><ifOutOctets>2</ifOutOctets></interface>` +
				`</interfaces></top>`},
		{"wrong namespace selects nothing", `<top xmlns="urn:example:other"/>`, ``},
		{"content match false selects nothing", `<top ` + cfgNS + `><users><user><name>wilma</name></user></users></top>`, ``},
		{"all content matches must hold", `<top ` + cfgNS + `><users><user><name>fred</name><type>superuser</type></user></users></top>`, ``},
		{"two filters selecting the same data do not duplicate it", `<top ` + cfgNS + `><users><user><name>fred</name><type/></user></users></top>` +
			`<top ` + cfgNS + `><users><user><name>fred</name><full-name/></user></users></top>`,
			`<top ` + cfgNS + `><users><user><name>fred</name><type>admin</type><full-name>Fred Flintstone</full-name></user></users></top>`},
		{"selection node with no data selects nothing", `<top ` + cfgNS + `><groups/></top>`, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fnodes, err := parseNodes([]byte(tc.filter))
			if err != nil {
				t.Fatal(err)
			}
			got, err := filterSubtree([]byte(rfcUsers), fnodes)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// A filter element with no namespace of its own, inside an <rpc> whose
// default namespace is the base namespace, matches any namespace; prefixes
// declared on <rpc> are resolved.
func TestFilterNamespacesFromRPC(t *testing.T) {
	e := newTestEnv(t)
	r := e.rawDial(t)
	r.sendHello(CapBase11)
	for name, req := range map[string]string{
		"unqualified": `<rpc message-id="1" xmlns="` + BaseNS + `"><get><filter><top><hostname/></top></filter></get></rpc>`,
		"prefix on rpc": `<nc:rpc message-id="1" xmlns:nc="` + BaseNS + `" xmlns:ex="urn:example:config">` +
			`<nc:get><nc:filter nc:type="subtree"><ex:top><ex:hostname/></ex:top></nc:filter></nc:get></nc:rpc>`,
	} {
		t.Run(name, func(t *testing.T) {
			raw := r.call(req)
			want := `<data><top xmlns="urn:example:config"><hostname>sw1</hostname></top></data>`
			if !bytes.Contains(raw, []byte(want)) {
				t.Fatalf("reply %s\nwant %s", raw, want)
			}
		})
	}
}

// Identity's filter against data in the shape of a real device's:
// identityref values keep their prefix declarations.
func TestFilterKeepsPrefixDeclarations(t *testing.T) {
	e := newTestEnv(t)
	c := e.dial(t)
	data, err := c.Get(context.Background(), IdentityFilter)
	if err != nil {
		t.Fatal(err)
	}
	want := `<hardware xmlns="` + HardwareNS + `"><component><name>chassis</name><class xmlns:ianahw="` + IANAHwNS + `">ianahw:chassis</class>` +
		`<software-rev>12.2(55)SE</software-rev><serial-num>FDO1307R0W9</serial-num><model-name>WS-C3750E-24TD-S</model-name></component>` +
		`<component><name>psu0</name><class xmlns:ianahw="` + IANAHwNS + `">ianahw:power-supply</class><serial-num>LIT12345678</serial-num><model-name>C3K-PWR-265WAC</model-name></component></hardware>`
	if string(data) != want {
		t.Fatalf("got\n%s\nwant\n%s", data, want)
	}
}
