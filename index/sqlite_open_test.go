package index

import (
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// TestOpenConcurrently opens one new index file from several connections
// at once, as the API and the indexer do when they start together: each
// creates the schema, and none may fail for the others' locks.
func TestOpenConcurrently(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), "round-"+strconv.Itoa(round)+".sqlite")
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				s, err := Open(path)
				if err != nil {
					errs <- err
					return
				}
				errs <- s.Close()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
	}
}
