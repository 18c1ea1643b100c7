//go:build !amd64

package prefetch

import "unsafe"

// Line does nothing here: the prefetch is written for amd64 only.
func Line(unsafe.Pointer) {}
