package jsfront

import (
	"context"
	"encoding/json"
	"slices"
)

// The fakes as a ReplicaMeta and a LeaderLocal. A stream is replicated
// once setPeers named its peers; the metadata leader is leader.

var (
	_ ReplicaMeta = (*fakeMeta)(nil)
	_ LeaderLocal = (*fakeLocal)(nil)
)

func (m *fakeMeta) setPeers(account, stream string, peers ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.replicas == nil {
		m.replicas = map[string][]string{}
	}
	m.replicas[account+"/"+stream] = peers
	m.holders[account+"/"+stream] = peers[0]
}

func (m *fakeMeta) Peers(account, stream string) ([]string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.replicas[account+"/"+stream]
	if !ok || len(p) < 2 {
		return nil, false
	}
	return slices.Clone(p), true
}

func (m *fakeMeta) PlaceReplicas(ctx context.Context, account, stream string, peers []string, cfg json.RawMessage) (string, error) {
	m.mu.Lock()
	m.replicaPlaces = append(m.replicaPlaces, slices.Clone(peers))
	key := account + "/" + stream
	if n, ok := m.holders[key]; ok {
		m.mu.Unlock()
		return n, nil
	}
	m.mu.Unlock()
	m.setPeers(account, stream, peers...)
	return peers[0], nil
}

func (m *fakeMeta) StepDown(ctx context.Context) error {
	m.mu.Lock()
	fn := m.stepDown
	m.stepDowns++
	m.mu.Unlock()
	if fn != nil {
		return fn(ctx)
	}
	return nil
}

func (m *fakeMeta) Leader() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leader
}

func (l *fakeLocal) setLeads(account, stream string, replicated, leader bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.leads == nil {
		l.leads = map[string][2]bool{}
	}
	l.leads[account+"/"+stream] = [2]bool{replicated, leader}
}

func (l *fakeLocal) Leads(account, stream string) (bool, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.leads[account+"/"+stream]
	return v[0], v[1]
}

var _ MemberMeta = (*fakeMeta)(nil)

func (m *fakeMeta) Members() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.members)
}

func (m *fakeMeta) StepDownTo(ctx context.Context, to string) error {
	m.mu.Lock()
	m.stepDownTo = append(m.stepDownTo, to)
	m.mu.Unlock()
	return m.StepDown(ctx)
}
