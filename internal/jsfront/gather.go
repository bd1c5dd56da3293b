package jsfront

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/cairn-db/cairn/internal/jsapi"
)

// gather answers $JS.API.INFO, STREAM.NAMES or STREAM.LIST from every
// connected node's own answer. A node that does not answer within the
// timeout is left out (its streams are listed as missing by
// STREAM.LIST, as nats-server lists offline streams).
func (f *Front) gather(r *request) {
	deadline := time.Now().Add(f.opts.Timeout)
	nodes := append([]string{f.opts.Name}, f.opts.Net.Peers()...)
	if r.subject == "$JS.API.INFO" {
		parts := f.askAll(r, nodes, r.data, deadline)
		var got [][]byte
		for _, p := range parts {
			if p != nil {
				got = append(got, p)
			}
		}
		if len(got) == 0 || parts[0] == nil {
			f.fail(r, jsapi.ErrClusterUnavailable)
			return
		}
		answered := map[string]bool{}
		for i, p := range parts {
			answered[nodes[i]] = p != nil
		}
		f.opts.Local.Publish(r.account, r.reply, "", nil, f.countReplicatedOnce(r.account, jsapi.MergeAccountInfo(got), answered))
		return
	}
	var body map[string]any
	if len(r.data) > 0 && json.Unmarshal(r.data, &body) != nil {
		r.local(r.caller, r.hdr) // the API words the error
		return
	}
	if body == nil {
		body = map[string]any{}
	}
	offset := 0
	if o, ok := body["offset"].(float64); ok && o > 0 {
		offset = int(o)
	}
	var items []json.RawMessage
	var from []string // the node each item came from
	answered := map[string]bool{}
	for _, n := range nodes {
		its, ok := f.allPages(r, n, body, deadline)
		if !ok {
			continue
		}
		answered[n] = true
		items = append(items, its...)
		for range its {
			from = append(from, n)
		}
	}
	if r.subject == "$JS.API.STREAM.LIST" {
		items = leaderInfos(items, from)
	}
	if !answered[f.opts.Name] {
		f.fail(r, jsapi.ErrClusterUnavailable)
		return
	}
	var missing []string
	for name, node := range f.opts.Meta.Streams(r.account) {
		if peers := f.replicaPeers(r.account, name); peers != nil {
			// Listed by any of its replicas.
			if !slices.ContainsFunc(peers, func(p string) bool { return answered[p] }) {
				missing = append(missing, name)
			}
			continue
		}
		if !answered[node] {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	if r.subject == "$JS.API.STREAM.NAMES" {
		if _, filtered := body["subject"]; !filtered {
			for _, name := range missing {
				b, _ := json.Marshal(name)
				items = append(items, b)
			}
		}
		missing = nil
	}
	f.opts.Local.Publish(r.account, r.reply, "", nil, jsapi.EncodeStreamPage(r.subject, items, offset, missing))
}

// allPages asks node for every page of a STREAM.NAMES or STREAM.LIST
// answer; false when it did not answer or answered with an error.
func (f *Front) allPages(r *request, node string, body map[string]any, deadline time.Time) ([]json.RawMessage, bool) {
	var items []json.RawMessage
	for {
		body["offset"] = len(items)
		data, _ := json.Marshal(body)
		ans := f.askAll(r, []string{node}, data, deadline)[0]
		if ans == nil {
			return nil, false
		}
		p, err := jsapi.DecodePage(ans)
		if err != nil || p.Error != nil {
			return nil, false
		}
		items = append(items, p.Items...)
		if len(p.Items) == 0 || len(items) >= p.Total {
			return items, true
		}
	}
}

// askAll sends r's subject with data to each node (this one through the
// local API) and returns their answers in order, nil for a node that
// did not answer by deadline.
func (f *Front) askAll(r *request, nodes []string, data []byte, deadline time.Time) [][]byte {
	chans := make([]chan []byte, len(nodes))
	inboxes := make([]string, len(nodes))
	f.mu.Lock()
	for i := range nodes {
		f.mu.next++
		// Unguessable: any client of the account may publish to the
		// inbox, and must not answer for a node.
		inboxes[i] = f.inbox + strconv.FormatUint(f.mu.next, 36) + strconv.FormatUint(rand.Uint64(), 36)
		chans[i] = make(chan []byte, 1)
		f.mu.waiting[inboxKey{r.account, inboxes[i]}] = chans[i]
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		for _, in := range inboxes {
			delete(f.mu.waiting, inboxKey{r.account, in})
		}
		f.mu.Unlock()
	}()
	hdr := stripCaller(r.hdr)
	for i, n := range nodes {
		if n == f.opts.Name {
			f.opts.Local.Publish(r.account, r.subject, inboxes[i], hdr, data)
			continue
		}
		if !f.opts.Net.SendTo(n, r.account, []byte(r.subject), []byte(inboxes[i]), hdr, data) {
			chans[i] = nil // no route to it: no answer to wait for
		}
	}
	out := make([][]byte, len(nodes))
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for i, ch := range chans {
		if ch == nil {
			continue
		}
		select {
		case out[i] = <-ch:
		case <-timer.C:
			return out
		}
	}
	return out
}

// leaderInfos returns STREAM.LIST items with one info per stream name:
// every replica of a replicated stream lists it, and the info of the
// node that leads it (its cluster.leader names the node that answered)
// is kept, else the first. from[i] is the node items[i] came from.
// Items without a name are kept (the page's encoder drops them).
func leaderInfos(items []json.RawMessage, from []string) []json.RawMessage {
	type info struct {
		Config struct {
			Name string `json:"name"`
		} `json:"config"`
		Cluster struct {
			Leader string `json:"leader"`
		} `json:"cluster"`
	}
	out := make([]json.RawMessage, 0, len(items))
	at := map[string]int{}        // name → index in out
	byLeader := map[string]bool{} // name → out holds its leader's info
	for i, it := range items {
		var si info
		if json.Unmarshal(it, &si) != nil || si.Config.Name == "" {
			out = append(out, it)
			continue
		}
		name, isLeader := si.Config.Name, si.Cluster.Leader != "" && si.Cluster.Leader == from[i]
		j, seen := at[name]
		switch {
		case !seen:
			at[name], byLeader[name] = len(out), isLeader
			out = append(out, it)
		case isLeader && !byLeader[name]:
			out[j], byLeader[name] = it, true
		}
	}
	return out
}

// countReplicatedOnce corrects the streams count of a merged
// $JS.API.INFO answer: each node counts the replicated streams it runs,
// so a stream whose k peers answered was counted k times. (Storage and
// memory stay summed over the replicas.)
func (f *Front) countReplicatedOnce(account string, merged []byte, answered map[string]bool) []byte {
	extra := 0
	for name := range f.opts.Meta.Streams(account) {
		k := 0
		for _, p := range f.replicaPeers(account, name) {
			if answered[p] {
				k++
			}
		}
		extra += max(k-1, 0)
	}
	if extra == 0 {
		return merged
	}
	var m map[string]json.RawMessage
	var streams int
	if json.Unmarshal(merged, &m) != nil || json.Unmarshal(m["streams"], &streams) != nil {
		return merged // an error answer: as it is
	}
	m["streams"], _ = json.Marshal(max(streams-extra, 0))
	b, err := json.Marshal(m)
	if err != nil {
		return merged
	}
	return b
}
