package broker

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendRedeemResult appends the result of a successful redemption,
// {"data":{"license":…,"existing":…}}, byte for byte what encoding/json
// makes of Result{Data: json.Marshal(redeemResult{…})} (tested), without
// reflection: one is encoded per activation record.
func appendRedeemResult(b []byte, l *License, existing bool) []byte {
	b = append(b, `{"data":{"license":`...)
	b = appendLicenseJSON(b, l)
	if existing {
		return append(b, `,"existing":true}}`...)
	}
	return append(b, `,"existing":false}}`...)
}

// appendLicenseJSON appends l as encoding/json encodes it.
func appendLicenseJSON(b []byte, l *License) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, l.ID)
	b = append(b, `,"tenant":`...)
	b = appendJSONString(b, l.Tenant)
	b = append(b, `,"udi":`...)
	b = appendJSONString(b, l.UDI)
	b = append(b, `,"pak":`...)
	b = appendJSONString(b, l.PAK)
	b = append(b, `,"line":`...)
	b = strconv.AppendInt(b, int64(l.Line), 10)
	b = append(b, `,"feature":`...)
	b = appendJSONString(b, l.Feature)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, l.Type)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, l.State)
	b = append(b, `,"issued_at":`...)
	b = appendJSONTime(b, l.IssuedAt)
	b = append(b, `,"expires_at":`...)
	if l.Expires == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONTime(b, *l.Expires)
	}
	if l.RehostedTo != "" {
		b = append(b, `,"rehosted_to":`...)
		b = appendJSONString(b, l.RehostedTo)
	}
	if l.RehostedFrom != "" {
		b = append(b, `,"rehosted_from":`...)
		b = appendJSONString(b, l.RehostedFrom)
	}
	if len(l.File) > 0 {
		b = append(b, `,"file":"`...)
		b = base64.StdEncoding.AppendEncode(b, l.File)
		b = append(b, '"')
	}
	if len(l.History) > 0 {
		b = append(b, `,"history":[`...)
		for i, e := range l.History {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"time":`...)
			b = appendJSONTime(b, e.Time)
			b = append(b, `,"actor":`...)
			b = appendJSONString(b, e.Actor)
			b = append(b, `,"what":`...)
			b = appendJSONString(b, e.What)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"updated":`...)
	b = appendJSONTime(b, l.Updated)
	return append(b, '}')
}

// appendJSONString appends s quoted as encoding/json does (HTML-safe
// escaping). Plain printable ASCII, which ids, UDIs and names are, is
// copied as is; anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil {
				panic(fmt.Sprintf("broker: encode string: %v", err))
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds); years it refuses panic, as encoding the result would.
func appendJSONTime(b []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 {
		q, err := t.MarshalJSON()
		if err != nil {
			panic(fmt.Sprintf("broker: encode result: %v", err))
		}
		return append(b, q...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
