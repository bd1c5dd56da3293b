package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

var httpClient = &http.Client{Timeout: time.Second}

// LocalLastSeq returns the last sequence of the node's own replica of
// stream, from its monitoring endpoint (/jsz?streams=true, which lists
// the streams the node holds with their local state); found is false if
// the node does not list the stream.
func (n *Node) LocalLastSeq(stream string) (last uint64, found bool, err error) {
	resp, err := httpClient.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz?streams=true", n.HTTPPort))
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("%s /jsz: %s", n.Name, resp.Status)
	}
	var jsz struct {
		Accounts []struct {
			Streams []struct {
				Name  string `json:"name"`
				State struct {
					LastSeq uint64 `json:"last_seq"`
				} `json:"state"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		return 0, false, fmt.Errorf("%s /jsz: %w", n.Name, err)
	}
	for _, a := range jsz.Accounts {
		for _, s := range a.Streams {
			if s.Name == stream {
				return s.State.LastSeq, true, nil
			}
		}
	}
	return 0, false, nil
}
