// Reading a recorded file: one orders.v1 JSON order per line.

package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/riskgate/riskgate/ingest/router"
)

// maxLine is the longest line read; a longer one is a bad input.
const maxLine = 1 << 20

// ReadFile replays the orders of a file (see ReadJSONL), showing progress
// by bytes read.
func ReadFile(ctx context.Context, path string, r *Replay, p *Progress) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open orders file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		p.SetTotal(st.Size())
	}
	if err := ReadJSONL(ctx, f, r, p); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ReadJSONL replays rd, one orders.v1 JSON order per line, in line order:
// a recording of orders.v1 in event-time order (what `riskgate tail
// orders.v1` writes, merged by ts) is read as the detector reads one
// partition, orders more than the rules' lateness behind the newest being
// counted late. Blank lines are skipped; a line that is not a valid order
// (or is longer than 1 MiB) is counted and listed by its number, never
// fatal. It streams: memory does not grow with the input.
func ReadJSONL(ctx context.Context, rd io.Reader, r *Replay, p *Progress) error {
	br := bufio.NewReaderSize(rd, maxLine)
	var line, bytes, orders int64
	bounds := r.cfg.OrderBounds
	flush := func() {
		p.Add(bytes, orders)
		bytes, orders = 0, 0
	}
	defer flush()
	for {
		b, err := br.ReadSlice('\n')
		if len(b) > 0 || err == nil {
			line++
		}
		bytes += int64(len(b))
		// Nearly every line ends in '\n' with no error: errors.Is is a call.
		if err != nil && errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = br.ReadSlice('\n')
				bytes += int64(len(b))
			}
			r.Bad("line "+strconv.FormatInt(line, 10), fmt.Errorf("line longer than %d bytes", maxLine))
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read line %d: %w", line, err)
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read line %d: %w", line, err)
		}
		if !blank(b) {
			o, derr := router.DecodeOrderWithin(b, bounds)
			if derr != nil {
				r.Bad("line "+strconv.FormatInt(line, 10), derr)
			} else {
				r.Order(&o, 0)
			}
			if orders++; orders&0xfff == 0 {
				flush()
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
		if err != nil { // io.EOF
			return nil
		}
	}
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
