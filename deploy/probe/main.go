// Command probe is the container health check of the riskgate image, which
// has no shell: it exits 0 when an HTTP URL answers 2xx, or when a TCP
// address accepts a connection.
//
//	probe http://127.0.0.1:9101/readyz
//	probe tcp 127.0.0.1:7233
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

const timeout = 3 * time.Second

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 1:
		return httpProbe(args[0])
	case len(args) == 2 && args[0] == "tcp":
		c, err := net.DialTimeout("tcp", args[1], timeout)
		if err != nil {
			return err
		}
		return c.Close()
	default:
		return fmt.Errorf("usage: probe URL | probe tcp HOST:PORT")
	}
}

func httpProbe(url string) error {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
