package jsfront

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

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
		preferred, e := f.stepDownPlacement(rm, data)
		if e != nil {
			f.publish(r, jsapi.EncodeError(typeMetaStepDown, e))
			return
		}
		f.async(r, f.changes, func() {
			ctx, cancel := context.WithTimeout(context.Background(), f.opts.Timeout)
			defer cancel()
			var err error
			if mm, ok := rm.(MemberMeta); ok {
				err = mm.StepDownTo(ctx, preferred)
			} else {
				err = rm.StepDown(ctx)
			}
			if err != nil {
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

// MemberMeta is a ReplicaMeta that knows the metadata group's members
// and can hand the leadership to a named one; with it, a step-down
// request's placement (preferred, cluster, tags) is honoured as
// nats-server does.
type MemberMeta interface {
	ReplicaMeta
	// Members returns the server names of the group's members.
	Members() []string
	// StepDownTo is StepDown to the member named to ("": any).
	StepDownTo(ctx context.Context, to string) error
}

// stepDownRequest is the optional body of META.LEADER.STEPDOWN.
type stepDownRequest struct {
	Placement *struct {
		Cluster   string   `json:"cluster,omitempty"`
		Tags      []string `json:"tags,omitempty"`
		Preferred string   `json:"preferred,omitempty"`
	} `json:"placement,omitempty"`
}

// stepDownPlacement reads a step-down request's body (only a JSON
// object or array is read, as nats-server does) and returns the
// preferred next leader ("" for any), or nats-server's error:
// 10025 "invalid JSON: …" for a body that does not decode (strict:
// unknown fields too), 10005 `preferred server "x" is already leader`,
// `preferred server "x" not known`, or "no replacement peer connected"
// when no other member is connected (in the cluster named, with the
// tags named: Cairn nodes have no tags).
func (f *Front) stepDownPlacement(rm ReplicaMeta, data []byte) (string, *jsapi.APIError) {
	body := bytes.TrimLeft(data, " \t\r\n")
	if len(body) == 0 || (body[0] != '{' && body[0] != '[') {
		return "", nil
	}
	var req stepDownRequest
	if err := decodeStrict(body, &req); err != nil {
		return "", &jsapi.APIError{Code: 400, ErrCode: 10025, Description: "invalid JSON: " + err.Error()}
	}
	mm, ok := rm.(MemberMeta)
	if req.Placement == nil || !ok {
		return "", nil
	}
	noPeers := func(format string, args ...any) *jsapi.APIError {
		return &jsapi.APIError{Code: 400, ErrCode: 10005, Description: fmt.Sprintf(format, args...)}
	}
	members := mm.Members()
	if p := req.Placement.Preferred; p != "" {
		switch {
		case p == f.opts.Name:
			return "", noPeers("preferred server %q is already leader", p)
		case !slices.Contains(members, p):
			return "", noPeers("preferred server %q not known", p)
		}
		return p, nil
	}
	connected := f.opts.Net.Peers()
	possible := slices.ContainsFunc(members, func(m string) bool { return m != f.opts.Name && slices.Contains(connected, m) })
	if c := req.Placement.Cluster; c != "" && f.opts.Cluster != "" && c != f.opts.Cluster {
		possible = false
	}
	if len(req.Placement.Tags) > 0 {
		possible = false
	}
	if !possible {
		return "", noPeers("no replacement peer connected")
	}
	return "", nil
}

// decodeStrict decodes an API body as jsapi does.
func decodeStrict(data []byte, v any) error { return jsapi.DecodeRequest(data, v) }
