package devicesim

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Clock is the fleet's simulated time: real time scaled by a speed factor,
// plus any offset added with Advance. Evaluation usage time and license
// validity are judged by this clock, so a test can run 61 days in a second.
type Clock struct {
	mu        sync.Mutex
	realStart time.Time
	simStart  time.Time
	speed     float64
	now       func() time.Time
}

// NewClock returns a clock that starts at start and runs at speed (1 = real
// time; values <= 0 select 1).
func NewClock(start time.Time, speed float64) *Clock {
	if speed <= 0 {
		speed = 1
	}
	return &Clock{realStart: time.Now(), simStart: start, speed: speed, now: time.Now}
}

// NewFrozenClock returns a clock that stands still at start: it moves only
// with Advance (until SetSpeed sets it running). Tests use it to read exact
// periods.
func NewFrozenClock(start time.Time) *Clock {
	return &Clock{realStart: time.Now(), simStart: start, speed: 0, now: time.Now}
}

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *Clock) nowLocked() time.Time {
	elapsed := c.now().Sub(c.realStart)
	return c.simStart.Add(time.Duration(float64(elapsed) * c.speed)).UTC()
}

// Advance moves simulated time forward by d (negative d is ignored: time
// never runs backwards) and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.simStart = c.simStart.Add(d)
	}
	return c.nowLocked()
}

// SetSpeed changes the speed factor from now on; values <= 0 are ignored.
func (c *Clock) SetSpeed(speed float64) {
	if speed <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.nowLocked()
	c.realStart = c.now()
	c.simStart = now
	c.speed = speed
}

// Speed returns the speed factor (0 for a frozen clock).
func (c *Clock) Speed() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.speed
}

// ParseDuration parses a Go duration ("90m", "1h30m") that may also use
// days and weeks ("61d", "8w4d", "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("devicesim: empty duration")
	}
	var total time.Duration
	rest := in
	for _, unit := range []struct {
		suffix string
		d      time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		i := strings.Index(rest, unit.suffix)
		if i < 0 {
			continue
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("devicesim: bad duration %q (want e.g. 61d, 8w4d, 36h, 90s)", s)
		}
		total += time.Duration(n * float64(unit.d))
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("devicesim: bad duration %q (want e.g. 61d, 8w4d, 36h, 90s)", s)
		}
		total += d
	}
	if total < 0 {
		return 0, fmt.Errorf("devicesim: negative duration %q", s)
	}
	return total, nil
}
