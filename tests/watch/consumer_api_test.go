package watch

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestConsumerAPI drives the CONSUMER endpoints directly through
// nats.go's jetstream API: create, info with exact counts, names, list,
// delete, and nats-server's errors for configurations Cairn refuses.
func TestConsumerAPI(t *testing.T) {
	kv, js, d := bucket(t, jetstream.KeyValueConfig{Bucket: "c", History: 3})
	ctx := ctxT(t)
	for _, k := range []string{"a", "b", "a"} {
		kv.Put(ctx, k, []byte("v"))
	}
	nc, _ := nats.Connect(d.ClientURL())
	defer nc.Close()
	sub, _ := nc.SubscribeSync("deliver.here")
	defer sub.Unsubscribe()
	nc.Flush()

	stream, err := js.Stream(ctx, "KV_c")
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.CreateOrUpdatePushConsumer(ctx, jetstream.ConsumerConfig{
		Name: "viewer", DeliverSubject: "deliver.here", AckPolicy: jetstream.AckNonePolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy, FilterSubject: "$KV.c.a",
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := sub.NextMsg(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "viewer" || info.Delivered.Consumer != 2 || info.Delivered.Stream != 3 || info.NumPending != 0 || !info.PushBound {
		t.Fatalf("info %+v", info)
	}
	kv.Put(ctx, "b", []byte("x")) // outside the filter: pending stays 0
	if info, _ := cons.Info(ctx); info.NumPending != 0 {
		t.Fatalf("pending %d after a put outside the filter", info.NumPending)
	}

	names := stream.ConsumerNames(ctx)
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	if len(got) != 1 || got[0] != "viewer" {
		t.Fatalf("names %v (%v)", got, names.Err())
	}
	list := stream.ListConsumers(ctx)
	n := 0
	for ci := range list.Info() {
		if ci.Name != "viewer" {
			t.Fatalf("listed %s", ci.Name)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("listed %d consumers", n)
	}

	// Refusals carry nats-server's error codes.
	_, err = stream.CreateOrUpdatePushConsumer(ctx, jetstream.ConsumerConfig{
		DeliverSubject: "x", AckPolicy: jetstream.AckNonePolicy, IdleHeartbeat: 10 * time.Millisecond,
	})
	wantCode(t, err, 10083)
	_, err = stream.CreateOrUpdatePushConsumer(ctx, jetstream.ConsumerConfig{
		DeliverSubject: "x", AckPolicy: jetstream.AckNonePolicy, FlowControl: true,
	})
	wantCode(t, err, 10108)
	_, err = stream.CreateOrUpdatePushConsumer(ctx, jetstream.ConsumerConfig{
		DeliverSubject: "x", AckPolicy: jetstream.AckNonePolicy, FilterSubject: "elsewhere.>",
	})
	wantCode(t, err, 10093)
	_, err = stream.CreateOrUpdatePushConsumer(ctx, jetstream.ConsumerConfig{
		DeliverSubject: "x", AckPolicy: jetstream.AckNonePolicy, FilterSubjects: []string{"$KV.c.>", "$KV.c.a"},
	})
	wantCode(t, err, 10138)
	_, err = stream.CreateOrUpdatePushConsumer(ctx, jetstream.ConsumerConfig{
		DeliverSubject: "x", AckPolicy: jetstream.AckNonePolicy, DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
	})
	wantCode(t, err, 10094)
	_, err = stream.CreateOrUpdatePushConsumer(ctx, jetstream.ConsumerConfig{
		DeliverSubject: "x", AckPolicy: jetstream.AckExplicitPolicy,
	})
	wantCode(t, err, 10012) // acknowledged consumers are refused by name

	if err := stream.DeleteConsumer(ctx, "viewer"); err != nil {
		t.Fatal(err)
	}
	if err := stream.DeleteConsumer(ctx, "viewer"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := stream.Consumer(ctx, "viewer"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("info of a deleted consumer: %v", err)
	}
}

func wantCode(t *testing.T, err error, code jetstream.ErrorCode) {
	t.Helper()
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != code {
		t.Fatalf("got %v, want API error %d", err, code)
	}
}
