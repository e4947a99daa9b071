package devicesim

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/licbroker/licbroker/netconf"
	"golang.org/x/crypto/ssh"
)

// sshServerVersion is the SSH banner the devices send, as IOS does.
const sshServerVersion = "SSH-2.0-Cisco-1.25"

// Start listens once on the fleet's port on the wildcard IPv4 address and
// serves every device from that one socket: a connection is served by the
// device whose address is its local address; connections to any other
// address are reset at once. (One socket per device would not fit a large
// fleet in the open-file limit.)
func (f *Fleet) Start() error {
	ln, err := net.Listen("tcp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(f.Port())))
	if err != nil {
		return fmt.Errorf("devicesim: listen on port %d: %w", f.Port(), err)
	}
	if err := f.StartOn(ln); err != nil {
		ln.Close()
		return err
	}
	return nil
}

// StartOn serves the fleet on ln, typically a wildcard listener (see
// Start); the fleet's port becomes ln's port. The fleet closes ln when it
// is closed.
func (f *Fleet) StartOn(ln net.Listener) error {
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("devicesim: listener %s is not TCP", ln.Addr())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	f.port.Store(int32(tcp.Port))
	f.lns[ln] = struct{}{}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.acceptLoop(ln)
	}()
	f.log.Info("fleet listening", "devices", len(f.devices), "first", f.devices[0].Addr,
		"last", f.devices[len(f.devices)-1].Addr, "port", tcp.Port)
	return nil
}

func (f *Fleet) acceptLoop(ln net.Listener) {
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-f.done:
				return
			default:
			}
			// Out of file descriptors or similar: back off and retry.
			delay = min(max(delay*2, 5*time.Millisecond), time.Second)
			f.log.Warn("accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		f.dispatch(conn)
	}
}

// dispatch decides what a device does with a new connection: reset it
// (no such device, powered off, too many connections), keep it silent
// (unreachable) or serve NETCONF.
func (f *Fleet) dispatch(conn net.Conn) {
	d := f.deviceAt(localAddr(conn))
	if d == nil {
		reset(conn)
		return
	}
	d.mu.Lock()
	off, silent := d.st.PoweredOff, d.fault != nil && d.fault.Unreachable
	d.mu.Unlock()
	if off {
		reset(conn)
		return
	}
	select {
	case f.sem <- struct{}{}:
	default:
		reset(conn)
		return
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() { <-f.sem }()
		if silent {
			f.holdSilent(conn)
			return
		}
		f.server.ServeConn(conn)
	}()
}

// holdSilent keeps a connection open without sending anything until the
// client gives up, SilentHold passes or the fleet closes.
func (f *Fleet) holdSilent(conn net.Conn) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		conn.Close()
		return
	}
	f.silent[conn] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.silent, conn)
		f.mu.Unlock()
		conn.Close()
	}()
	conn.SetReadDeadline(time.Now().Add(f.cfg.SilentHold))
	io.Copy(io.Discard, conn)
}

func localAddr(conn net.Conn) netip.Addr {
	if ta, ok := conn.LocalAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// reset closes a connection with a TCP reset, as a closed port would answer.
func reset(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// resolve is the netconf server's Resolve hook: the device at the local
// address, with its host key and credentials.
func (f *Fleet) resolve(local, _ net.Addr) (*netconf.Endpoint, error) {
	ta, ok := local.(*net.TCPAddr)
	if !ok {
		return nil, errors.New("devicesim: not a TCP connection")
	}
	ip, _ := netip.AddrFromSlice(ta.IP)
	d := f.deviceAt(ip)
	if d == nil {
		return nil, fmt.Errorf("%w at %s", ErrNoSuchDevice, ip.Unmap())
	}
	signer := d.hostSigner()
	creds := f.credentialsFor(d.Addr)
	authFails := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.fault != nil && d.fault.AuthFailure
	}
	conf := &ssh.ServerConfig{
		ServerVersion: sshServerVersion,
		PasswordCallback: func(c ssh.ConnMetadata, p []byte) (*ssh.Permissions, error) {
			userOK := subtle.ConstantTimeCompare([]byte(c.User()), []byte(creds.Username))
			passOK := subtle.ConstantTimeCompare(p, []byte(creds.Password))
			if userOK&passOK == 1 && creds.Password != "" && !authFails() {
				return nil, nil
			}
			return nil, errors.New("devicesim: authentication failed")
		},
	}
	if len(creds.AuthorizedKeys) > 0 {
		conf.PublicKeyCallback = func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == creds.Username && !authFails() {
				for _, k := range creds.AuthorizedKeys {
					if bytes.Equal(k.Marshal(), key.Marshal()) {
						return nil, nil
					}
				}
			}
			return nil, errors.New("devicesim: public key not authorized")
		}
	}
	conf.AddHostKey(signer)
	f.cfg.SSHAlgorithms.ApplyServer(conf)
	return &netconf.Endpoint{SSH: conf, Handler: d}, nil
}

// Close stops serving: the listeners, every session and every held
// connection. Device state is already saved; the simulated time is saved
// too.
func (f *Fleet) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	close(f.done)
	for ln := range f.lns {
		ln.Close()
	}
	for c := range f.silent {
		c.Close()
	}
	f.mu.Unlock()
	f.server.Close()
	f.wg.Wait()
	return f.store.saveClock(f.clock)
}
