package keyengine

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// Benchmarks: raw Ed25519 and our sign/verify paths for both encodings.
// Each format benchmark interleaves raw and ours in chunks so that both see
// the same machine load, and reports ops/s, raw-ops/s and %raw (ours as a
// share of raw; the target is >= 80).
//
//	go test ./keyengine -run '^$' -bench . -benchtime 2s

// benchGrant is a typical broker grant: an extension license from a PAK.
func benchGrant(b *testing.B) Grant {
	g := fixedGrants(b)[2].Grant
	g.Comment = ""
	return g
}

func BenchmarkRawSign(b *testing.B) {
	kr := fixedKeyring(b)
	l, _ := kr.Sign(benchGrant(b))
	msg := l.Grant.Canonical()
	priv := kr.keys[kr.ActiveID()].Private
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ed25519.Sign(priv, msg)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkRawVerify(b *testing.B) {
	kr := fixedKeyring(b)
	l, _ := kr.Sign(benchGrant(b))
	msg := l.Grant.Canonical()
	pub := kr.keys[kr.ActiveID()].Private.Public().(ed25519.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, l.Signature) {
			b.Fatal("verify failed")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// vsRaw runs raw and ours alternately, 32 at a time, b.N times each.
func vsRaw(b *testing.B, raw, ours func()) {
	b.ReportAllocs()
	var tRaw, tOurs time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += 32 {
		n := min(32, b.N-done)
		b.StopTimer()
		s := time.Now()
		for i := 0; i < n; i++ {
			raw()
		}
		tRaw += time.Since(s)
		b.StartTimer()
		s = time.Now()
		for i := 0; i < n; i++ {
			ours()
		}
		tOurs += time.Since(s)
	}
	b.ReportMetric(float64(b.N)/tOurs.Seconds(), "ops/s")
	b.ReportMetric(float64(b.N)/tRaw.Seconds(), "raw-ops/s")
	b.ReportMetric(100*tRaw.Seconds()/tOurs.Seconds(), "%raw")
}

type benchSetup struct {
	kr   *Keyring
	ts   *TrustStore
	g    Grant
	l    License
	msg  []byte
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newBenchSetup(b *testing.B) benchSetup {
	kr := fixedKeyring(b)
	g := benchGrant(b)
	l, err := kr.Sign(g)
	if err != nil {
		b.Fatal(err)
	}
	priv := kr.keys[kr.ActiveID()].Private
	return benchSetup{kr: kr, ts: kr.TrustStore(), g: g, l: l, msg: l.Grant.Canonical(), priv: priv, pub: priv.Public().(ed25519.PublicKey)}
}

func (s benchSetup) rawSign()   { ed25519.Sign(s.priv, s.msg) }
func (s benchSetup) rawVerify() { ed25519.Verify(s.pub, s.msg, s.l.Signature) }

func BenchmarkFileSign(b *testing.B) {
	s := newBenchSetup(b)
	vsRaw(b, s.rawSign, func() {
		l, err := s.kr.Sign(s.g)
		if err != nil {
			b.Fatal(err)
		}
		_ = EncodeFile([]License{l})
	})
}

func BenchmarkFileVerify(b *testing.B) {
	s := newBenchSetup(b)
	file := EncodeFile([]License{s.l})
	vsRaw(b, s.rawVerify, func() {
		lics, err := ParseFile(file)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.ts.Verify(lics[0], udiA, t0); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkKeySign(b *testing.B) {
	s := newBenchSetup(b)
	vsRaw(b, s.rawSign, func() {
		l, err := s.kr.Sign(s.g)
		if err != nil {
			b.Fatal(err)
		}
		_ = EncodeCompactKey(l)
	})
}

func BenchmarkKeyVerify(b *testing.B) {
	s := newBenchSetup(b)
	key := EncodeCompactKey(s.l)
	vsRaw(b, s.rawVerify, func() {
		l, err := ParseCompactKey(key)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.ts.Verify(l, udiA, t0); err != nil {
			b.Fatal(err)
		}
	})
}

// Encoding alone, without the cryptography: where the overhead lives.
func BenchmarkEncodeFile(b *testing.B) {
	s := newBenchSetup(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = EncodeFile([]License{s.l})
	}
}

func BenchmarkParseFile(b *testing.B) {
	s := newBenchSetup(b)
	file := EncodeFile([]License{s.l})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFile(file); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCompactKey(b *testing.B) {
	s := newBenchSetup(b)
	key := EncodeCompactKey(s.l)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCompactKey(key); err != nil {
			b.Fatal(err)
		}
	}
}
