// Package embedkafka runs an in-process Kafka broker (franz-go's kfake) for
// `referralops demo`: one broker on a fixed address with the demo's topics,
// which kafka-go, kcat and other clients reach over the ordinary wire
// protocol.
//
// It keeps everything in memory: a stopped broker forgets its topics,
// messages and consumer-group offsets, which is what a demo whose data lives
// in ClickHouse wants. It is not a production broker: no replication, no
// authentication, no persistence.
package embedkafka
