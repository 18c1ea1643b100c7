package prefetch

import "unsafe"

// Line asks for the cache line holding p (for reading, into every level of
// cache). A prefetch never faults, whatever the address, and changes
// nothing but the caches' contents.
//
//go:noescape
func Line(p unsafe.Pointer)
