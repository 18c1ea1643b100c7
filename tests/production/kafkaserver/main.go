// Command kafkaserver runs kfake as a standalone Kafka cluster of several
// brokers on fixed ports of 127.0.0.1, until SIGTERM or SIGINT: the
// production harness's Kafka, in a process of its own so that riskgate's
// roles reach it over TCP as they would a real cluster.
//
//	kafkaserver --ports 19092,19093,19094
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	ports := flag.String("ports", "", "comma-separated ports, one broker each (required)")
	partitions := flag.Int("partitions", 3, "partitions of auto-created topics")
	flag.Parse()
	if err := run(*ports, *partitions); err != nil {
		fmt.Fprintln(os.Stderr, "kafkaserver:", err)
		os.Exit(1)
	}
}

func run(portList string, partitions int) error {
	var ports []int
	for _, f := range strings.Split(portList, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p <= 0 || p > 65535 {
			return fmt.Errorf("--ports %q: %q is not a port", portList, f)
		}
		ports = append(ports, p)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := kfake.NewCluster(kfake.NumBrokers(len(ports)), kfake.Ports(ports...),
		kfake.ClusterID("riskgate-prod"), kfake.DefaultNumPartitions(partitions))
	if err != nil {
		return fmt.Errorf("start %d brokers on %v: %w", len(ports), ports, err)
	}
	fmt.Printf("kafka: %d brokers on %s\n", len(ports), strings.Join(c.ListenAddrs(), ","))
	<-ctx.Done()
	c.Close()
	fmt.Println("kafka: stopped")
	return nil
}
