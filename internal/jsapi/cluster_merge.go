package jsapi

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
)

// On a cluster, $JS.API.INFO, STREAM.NAMES and STREAM.LIST are answered
// by the node the client is connected to from every node's own answer
// (internal/jsfront gathers them); these functions decode the parts and
// encode the combined answer in the API's own types.

// Clustered errors, as nats-server words them.
var (
	// ErrClusterUnavailable: no metadata leader, so nothing can be
	// created or placed.
	ErrClusterUnavailable = &APIError{503, 10008, "JetStream system temporarily unavailable"}
	// ErrStreamOffline: the node holding the stream is not reachable.
	ErrStreamOffline = &APIError{500, 10118, "stream is offline"}
)

// EncodeError returns the API answer of type typ carrying e. typ is the
// response type of the request's subject (ResponseType).
func EncodeError(typ string, e *APIError) []byte {
	b, _ := json.Marshal(&apiResponse{Type: typ, Error: e})
	return b
}

// ResponseType returns the "type" of the answer to an API subject, ""
// when the subject is not one Cairn answers by stream.
func ResponseType(subject string) string {
	for _, p := range responseTypes {
		if len(subject) >= len(p.prefix) && subject[:len(p.prefix)] == p.prefix {
			return p.typ
		}
	}
	return ""
}

var responseTypes = []struct{ prefix, typ string }{
	{"$JS.API.STREAM.CREATE.", typeStreamCreate},
	{"$JS.API.STREAM.UPDATE.", typeStreamUpdate},
	{"$JS.API.STREAM.INFO.", typeStreamInfo},
	{"$JS.API.STREAM.DELETE.", typeStreamDelete},
	{"$JS.API.STREAM.PURGE.", typeStreamPurge},
	{"$JS.API.STREAM.MSG.GET.", typeMsgGet},
	{"$JS.API.STREAM.MSG.DELETE.", typeMsgDelete},
	{"$JS.API.STREAM.SNAPSHOT.", typeStreamSnapshot},
	{"$JS.API.STREAM.RESTORE.", typeStreamRestore},
	{"$JS.API.CONSUMER.CREATE.", typeConsumerCreate},
	{"$JS.API.CONSUMER.DURABLE.CREATE.", typeConsumerCreate},
	{"$JS.API.CONSUMER.INFO.", typeConsumerInfo},
	{"$JS.API.CONSUMER.DELETE.", typeConsumerDelete},
	{"$JS.API.CONSUMER.NAMES.", typeConsumerNames},
	{"$JS.API.CONSUMER.LIST.", typeConsumerList},
	{"$JS.API.INFO", typeAccountInfo},
	{"$JS.API.STREAM.NAMES", typeStreamNames},
	{"$JS.API.STREAM.LIST", typeStreamList},
}

// MergeAccountInfo combines the $JS.API.INFO answers of the nodes: the
// first part is this node's, whose limits, domain and API level are
// kept; usage, counts and API totals are summed. A part with an error
// or that does not decode is skipped; with no usable first part the
// first part is returned as it is.
func MergeAccountInfo(parts [][]byte) []byte {
	var sum *accountStats
	for i, p := range parts {
		// Decoded in two steps: encoding/json cannot fill the response's
		// embedded pointer to an unexported type.
		var head apiResponse
		s := new(accountStats)
		if json.Unmarshal(p, &head) != nil || head.Error != nil || json.Unmarshal(p, s) != nil {
			if i == 0 {
				return p
			}
			continue
		}
		if sum == nil {
			sum = s
			continue
		}
		sum.Memory += s.Memory
		sum.Storage += s.Storage
		sum.ReservedMemory += s.ReservedMemory
		sum.ReservedStorage += s.ReservedStorage
		sum.Streams += s.Streams
		sum.Consumers += s.Consumers
		sum.API.Total += s.API.Total
		sum.API.Errors += s.API.Errors
	}
	b, _ := json.Marshal(&accountInfoResponse{apiResponse: apiResponse{Type: typeAccountInfo}, accountStats: sum})
	return b
}

// Page is one decoded STREAM.NAMES or STREAM.LIST answer.
type Page struct {
	Total int
	// Items are stream names (JSON strings) or stream infos (JSON
	// objects), in the node's order.
	Items []json.RawMessage
	// Error is the answer's error, if any.
	Error *APIError
}

// DecodePage decodes a STREAM.NAMES or STREAM.LIST answer.
func DecodePage(b []byte) (Page, error) {
	var r struct {
		apiResponse
		apiPaged
		Streams []json.RawMessage `json:"streams"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Page{}, fmt.Errorf("jsapi: decoding a stream page: %w", err)
	}
	return Page{Total: r.Total, Items: r.Streams, Error: r.Error}, nil
}

// PageLimit is the most items one answer to subject carries
// (STREAM.NAMES or STREAM.LIST).
func PageLimit(subject string) int {
	if subject == subjList {
		return listLimit
	}
	return namesLimit
}

// EncodeStreamPage answers STREAM.NAMES or STREAM.LIST (by subject) with
// the page at offset of items gathered from every node; items are
// sorted by stream name first. missing names streams whose node did not
// answer (STREAM.LIST only).
func EncodeStreamPage(subject string, items []json.RawMessage, offset int, missing []string) []byte {
	limit := PageLimit(subject)
	if subject == subjList {
		// An item that is not a stream info is left out.
		items = slices.DeleteFunc(slices.Clone(items), func(it json.RawMessage) bool { return infoName(it) == "" })
		slices.SortFunc(items, func(x, y json.RawMessage) int { return cmp.Compare(infoName(x), infoName(y)) })
		// A stream held by two nodes (a conflict the log reports) is
		// listed once.
		items = slices.CompactFunc(items, func(x, y json.RawMessage) bool { return infoName(x) == infoName(y) })
		lo, hi := page(len(items), offset, limit)
		// The nodes' infos go out as they came (json.Valid checked by
		// the encoder), not decoded and encoded again.
		b, err := json.Marshal(&struct {
			apiResponse
			apiPaged
			Streams []json.RawMessage `json:"streams"`
			Missing []string          `json:"missing,omitempty"`
		}{
			apiResponse: apiResponse{Type: typeStreamList},
			apiPaged:    apiPaged{Total: len(items), Offset: lo, Limit: limit},
			Streams:     append([]json.RawMessage{}, items[lo:hi]...), Missing: missing,
		})
		if err != nil {
			return EncodeError(typeStreamList, errBadRequest)
		}
		return b
	}
	names := make([]string, 0, len(items))
	for _, it := range items {
		var n string
		if json.Unmarshal(it, &n) == nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	lo, hi := page(len(names), offset, limit)
	b, _ := json.Marshal(&streamNamesResponse{
		apiResponse: apiResponse{Type: typeStreamNames},
		apiPaged:    apiPaged{Total: len(names), Offset: lo, Limit: limit},
		Streams:     names[lo:hi],
	})
	return b
}

// infoName is the config.name of a stream info, "" if it has none.
func infoName(b json.RawMessage) string {
	var si struct {
		Config struct {
			Name string `json:"name"`
		} `json:"config"`
	}
	_ = json.Unmarshal(b, &si)
	return si.Config.Name
}
