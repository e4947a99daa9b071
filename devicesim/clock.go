package devicesim

import (
	"sync"
	"time"
)

// Clock is the fleet's simulated time: real time scaled by a speed factor,
// plus any offset added with Advance. Device usage time (evaluation
// licenses) and license validity are judged by this clock.
type Clock struct {
	mu        sync.Mutex
	realStart time.Time
	simStart  time.Time
	speed     float64
	now       func() time.Time
}

// NewClock returns a clock that starts at start and runs at speed (1 = real
// time).
func NewClock(start time.Time, speed float64) *Clock {
	if speed <= 0 {
		speed = 1
	}
	return &Clock{realStart: time.Now(), simStart: start, speed: speed, now: time.Now}
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

// Advance moves simulated time forward by d.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.simStart = c.simStart.Add(d)
	return c.nowLocked()
}

// SetSpeed changes the speed factor from now on.
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

// Speed returns the speed factor.
func (c *Clock) Speed() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.speed
}
