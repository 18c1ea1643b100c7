package replay

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Progress draws a progress line (orders read, rate, share done and ETA)
// on a terminal while a long replay runs. A nil *Progress draws nothing,
// and every method is safe on it. Readers add to it in chunks, so the hot
// loop touches no atomic per order.
type Progress struct {
	w            io.Writer
	total, done  atomic.Int64
	orders       atomic.Int64
	start        time.Time
	stop         chan struct{}
	wg           sync.WaitGroup
	every        time.Duration
	lastRendered string
}

// NewProgress returns a progress line on w, or nil when !enabled (w is not
// a terminal).
func NewProgress(w io.Writer, enabled bool) *Progress {
	if !enabled {
		return nil
	}
	return &Progress{w: w, every: 250 * time.Millisecond}
}

// SetTotal sets how many units the whole input has, for the share and ETA.
func (p *Progress) SetTotal(n int64) {
	if p != nil {
		p.total.Store(n)
	}
}

// Add counts units read and orders among them.
func (p *Progress) Add(units, orders int64) {
	if p != nil {
		p.done.Add(units)
		p.orders.Add(orders)
	}
}

// Start draws the line every quarter second until Stop.
func (p *Progress) Start() {
	if p == nil {
		return
	}
	p.start = time.Now()
	p.stop = make(chan struct{})
	p.wg.Go(func() {
		t := time.NewTicker(p.every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.draw(false)
			}
		}
	})
}

// Stop draws the final line and ends it.
func (p *Progress) Stop() {
	if p == nil || p.stop == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	p.draw(true)
	p.stop = nil
}

func (p *Progress) draw(final bool) {
	line := p.line(time.Since(p.start), final)
	pad := ""
	if n := len(p.lastRendered) - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	p.lastRendered = line
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(p.w, "\r%s%s%s", line, pad, end)
}

// line is the progress line after elapsed.
func (p *Progress) line(elapsed time.Duration, final bool) string {
	orders := p.orders.Load()
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(orders) / s
	}
	s := fmt.Sprintf("replay: %s orders  %s/s", humanCount(float64(orders)), humanCount(rate))
	total, done := p.total.Load(), p.done.Load()
	if total <= 0 {
		return s
	}
	frac := min(float64(done)/float64(total), 1)
	const width = 24
	n := int(frac * width)
	s += fmt.Sprintf("  [%s%s] %3.0f%%", strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100)
	if !final && frac > 0 && frac < 1 {
		eta := time.Duration(float64(elapsed) * (1 - frac) / frac).Round(time.Second)
		s += "  ETA " + eta.String()
	}
	return s
}

// humanCount writes 1234567 as 1.23M.
func humanCount(f float64) string {
	switch {
	case f >= 1e9:
		return fmt.Sprintf("%.2fG", f/1e9)
	case f >= 1e6:
		return fmt.Sprintf("%.2fM", f/1e6)
	case f >= 1e4:
		return fmt.Sprintf("%.1fk", f/1e3)
	}
	return fmt.Sprintf("%.0f", f)
}
