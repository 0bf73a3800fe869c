package embedkafka

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

// ErrAddrInUse is returned by Start when something already listens on the
// address, typically a real Kafka broker.
var ErrAddrInUse = errors.New("address already in use")

// Broker is a running in-process Kafka broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
}

// Start listens on addr (host:port; port 0 picks a free one) and serves a
// single-broker cluster with topics created, each with partitions partitions.
// Clients are told to connect to the listener's address.
func Start(addr string, partitions int, topics ...string) (*Broker, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("embedded Kafka: %s: %w", addr, ErrAddrInUse)
		}
		return nil, fmt.Errorf("embedded Kafka: listen on %s: %w", addr, err)
	}
	used := false
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ClusterID("referralops-embedded"),
		// kfake asks for 127.0.0.1 and a port; it gets the listener opened
		// above, so the address in metadata is the one clients dialled.
		kfake.ListenFn(func(string, string) (net.Listener, error) {
			if used {
				return nil, errors.New("embedded Kafka has a single listener")
			}
			used = true
			return ln, nil
		}),
		kfake.SeedTopics(int32(partitions), topics...),
	)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded Kafka: %w", err)
	}
	return &Broker{cluster: cluster, addr: ln.Addr().String()}, nil
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker; its data is gone.
func (b *Broker) Close() { b.cluster.Close() }
