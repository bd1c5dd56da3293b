package jsfront

import (
	"context"
	"encoding/json"

	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/server"
)

// Meta leader step-down ($JS.API.META.LEADER.STEPDOWN), as nats-server
// 2.15.2 has it (jetstream_api.go, jsLeaderStepDownRequest): only a
// request in the system account is considered (others get no answer),
// only the metadata leader answers, with
// {"type":"io.nats.jetstream.api.v1.meta_leader_stepdown_response","success":true}
// or, when Raft refuses, 500/10041 with Raft's error as the
// description. Cairn forwards the request from any node to the leader
// (one hop), and answers 10008 at once when no leader is known, where
// nats-server leaves the client to time out.
const (
	subjMetaStepDown = "$JS.API.META.LEADER.STEPDOWN"
	typeMetaStepDown = "io.nats.jetstream.api.v1.meta_leader_stepdown_response"
)

// errRaftGeneral is nats-server's JSRaftGeneralErrF (500, 10041, the
// Raft error's text).
func errRaftGeneral(err error) *jsapi.APIError {
	return &jsapi.APIError{Code: 500, ErrCode: 10041, Description: err.Error()}
}

// ServeMeta subscribes $JS.API.META.LEADER.STEPDOWN in acc, which must
// be the system account (nats-server answers it there only; the
// daemon calls ServeMeta for that account alone), on every node of a
// cluster. The returned function removes the subscription.
func (f *Front) ServeMeta(acc *server.Account) (func(), error) {
	account := acc.Name()
	sub, err := acc.SubscribeLocal(subjMetaStepDown, "", func(m *server.Msg) {
		f.metaStepDown(account, m.Reply, m.Header, m.Data, m.FromRoute)
	})
	if err != nil {
		return nil, err
	}
	return sub.Unsubscribe, nil
}

// metaStepDown handles one META.LEADER.STEPDOWN request: the leader
// steps down and answers; another node forwards a client's request to
// the leader, and drops a forwarded one (the leader moved meanwhile; a
// request is never forwarded twice).
func (f *Front) metaStepDown(account, reply string, hdr, data []byte, forwarded bool) {
	rm, ok := f.opts.Meta.(ReplicaMeta)
	if !ok || reply == "" {
		return // not clustered: nats-server does not answer either
	}
	r := &request{account: account, subject: subjMetaStepDown, reply: reply, hdr: stripCaller(hdr), data: data}
	leader := rm.Leader()
	switch {
	case leader == f.opts.Name:
		f.async(r, f.changes, func() {
			ctx, cancel := context.WithTimeout(context.Background(), f.opts.Timeout)
			defer cancel()
			if err := rm.StepDown(ctx); err != nil {
				f.publish(r, jsapi.EncodeError(typeMetaStepDown, errRaftGeneral(err)))
				return
			}
			b, _ := json.Marshal(struct {
				Type    string `json:"type"`
				Success bool   `json:"success"`
			}{typeMetaStepDown, true})
			f.publish(r, b)
		})
	case forwarded:
		// Only the leader answers.
	case leader == "" || f.isClosed():
		f.publish(r, jsapi.EncodeError(typeMetaStepDown, jsapi.ErrClusterUnavailable))
	default:
		if !f.opts.Net.SendTo(leader, account, []byte(r.subject), []byte(reply), r.hdr, data) {
			f.publish(r, jsapi.EncodeError(typeMetaStepDown, jsapi.ErrClusterUnavailable))
		}
	}
}

// publish answers r's client with b.
func (f *Front) publish(r *request, b []byte) {
	f.opts.Local.Publish(r.account, r.reply, "", nil, b)
}
