package index

import (
	"context"
	"testing"
	"time"
)

// TestOutliving: the context a stop lets a batch finish under ends grace
// after its parent, or when cancelled, and not at the parent's end.
func TestOutliving(t *testing.T) {
	parent, stop := context.WithCancel(context.Background())
	c, cancel := outliving(parent, time.Hour)
	stop()
	<-parent.Done()
	if err := c.Err(); err != nil {
		t.Fatalf("ended with its parent: %v", err)
	}
	cancel()
	if c.Err() == nil {
		t.Fatal("cancel did not end it")
	}

	parent, stop = context.WithCancel(context.Background())
	defer stop()
	c, cancel = outliving(parent, time.Millisecond)
	defer cancel()
	stop()
	select {
	case <-c.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("did not end after its grace")
	}
}
