package jsapi

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestResponseTypeAndEncodeError(t *testing.T) {
	for subj, want := range map[string]string{
		"$JS.API.STREAM.CREATE.S":             typeStreamCreate,
		"$JS.API.STREAM.INFO.S":               typeStreamInfo,
		"$JS.API.STREAM.MSG.GET.S":            typeMsgGet,
		"$JS.API.CONSUMER.CREATE.S.C.f":       typeConsumerCreate,
		"$JS.API.CONSUMER.DURABLE.CREATE.S.D": typeConsumerCreate,
		"$JS.API.CONSUMER.NAMES.S":            typeConsumerNames,
		"$JS.API.INFO":                        typeAccountInfo,
		"$JS.API.STREAM.NAMES":                typeStreamNames,
		"$JS.API.STREAM.LIST":                 typeStreamList,
		"$JS.API.DIRECT.GET.S":                "",
		"$KV.b.k":                             "",
	} {
		if got := ResponseType(subj); got != want {
			t.Errorf("ResponseType(%s) = %q, want %q", subj, got, want)
		}
	}
	got := string(EncodeError(typeStreamInfo, ErrStreamOffline))
	if want := `{"type":"io.nats.jetstream.api.v1.stream_info_response","error":{"code":500,"err_code":10118,"description":"stream is offline"}}`; got != want {
		t.Errorf("EncodeError = %s", got)
	}
	got = string(EncodeError(typeStreamCreate, ErrClusterUnavailable))
	if want := `{"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":503,"err_code":10008,"description":"JetStream system temporarily unavailable"}}`; got != want {
		t.Errorf("EncodeError = %s", got)
	}
}

func accountInfoPart(i int) []byte {
	b, _ := json.Marshal(&accountInfoResponse{apiResponse: apiResponse{Type: typeAccountInfo}, accountStats: &accountStats{
		Memory: uint64(10 * i), Storage: uint64(100 * i), ReservedMemory: uint64(i), ReservedStorage: uint64(2 * i),
		Streams: i, Consumers: 3 * i, Domain: fmt.Sprint("d", i),
		Limits: accountLimits{MaxMemory: int64(1000 * i), MaxStreams: -1},
		API:    apiStats{Level: i, Total: uint64(7 * i), Errors: uint64(i)},
	}})
	return b
}

func TestMergeAccountInfo(t *testing.T) {
	parts := [][]byte{accountInfoPart(1), accountInfoPart(2), []byte(`{"type":"x","error":{"code":500}}`), []byte(`garbage`), accountInfoPart(4)}
	var got struct {
		Type string `json:"type"`
		accountStats
	}
	merged := MergeAccountInfo(parts)
	if err := json.Unmarshal(merged, &got); err != nil {
		t.Fatal(err)
	}
	// Sums of 1, 2 and 4; limits, domain and level of the first.
	if got.Type != typeAccountInfo || got.Memory != 70 || got.Storage != 700 || got.ReservedMemory != 7 || got.ReservedStorage != 14 ||
		got.Streams != 7 || got.Consumers != 21 || got.API.Total != 49 || got.API.Errors != 7 ||
		got.Limits.MaxMemory != 1000 || got.Domain != "d1" || got.API.Level != 1 {
		t.Fatalf("merged %s", merged)
	}
}

func TestMergeAccountInfoFirstPartUnusable(t *testing.T) {
	for _, first := range [][]byte{
		[]byte(`{"type":"io.nats.jetstream.api.v1.account_info_response","error":{"code":503,"err_code":10039,"description":"jetstream not enabled for account"}}`),
		[]byte(`garbage`),
	} {
		if got := MergeAccountInfo([][]byte{first, accountInfoPart(2)}); string(got) != string(first) {
			t.Errorf("first part %s: merged %s", first, got)
		}
	}
}

func TestDecodePage(t *testing.T) {
	p, err := DecodePage([]byte(`{"type":"t","total":3,"offset":1,"limit":2,"streams":["b","c"]}`))
	if err != nil || p.Total != 3 || len(p.Items) != 2 || string(p.Items[0]) != `"b"` || p.Error != nil {
		t.Fatalf("%+v %v", p, err)
	}
	p, err = DecodePage([]byte(`{"type":"t","total":1,"streams":[{"config":{"name":"a"}}]}`))
	if err != nil || p.Total != 1 || string(p.Items[0]) != `{"config":{"name":"a"}}` {
		t.Fatalf("%+v %v", p, err)
	}
	p, err = DecodePage([]byte(`{"type":"t","error":{"code":503,"err_code":10008,"description":"x"}}`))
	if err != nil || p.Error == nil || p.Error.ErrCode != 10008 || len(p.Items) != 0 {
		t.Fatalf("%+v %v", p, err)
	}
	p, err = DecodePage([]byte(`{"type":"t","total":0,"streams":null}`))
	if err != nil || p.Items != nil {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{``, `{`, `[]`, `"x"`, `{"total":"3"}`, `{"streams":"a"}`, `{"streams":{}}`, `{"error":"x"}`} {
		if _, err := DecodePage([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "jsapi: decoding a stream page: ") {
			t.Errorf("DecodePage(%q): %v", bad, err)
		}
	}
}

func TestPageLimit(t *testing.T) {
	if PageLimit(subjList) != listLimit || PageLimit(subjNames) != namesLimit || PageLimit("$JS.API.INFO") != namesLimit {
		t.Fatal("page limits")
	}
}

// rawNames returns n stream names as JSON items, shuffled (as several
// nodes' answers would come).
func rawNames(names []string) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(names))
	for _, n := range names {
		b, _ := json.Marshal(n)
		out = append(out, b)
	}
	return out
}

func TestEncodeStreamPageNames(t *testing.T) {
	var names []string
	for i := range namesLimit + 10 {
		names = append(names, fmt.Sprintf("s%05d", (i*7919)%(namesLimit+10)))
	}
	sorted := slices.Sorted(slices.Values(names))
	items := append(rawNames(names), json.RawMessage(`{"not":"a name"}`))
	var got streamNamesResponse
	for _, tc := range []struct{ offset, lo, n int }{
		{0, 0, namesLimit}, {-5, 0, namesLimit}, {5, 5, namesLimit}, {namesLimit, namesLimit, 10}, {namesLimit + 10, namesLimit + 10, 0}, {1 << 30, namesLimit + 10, 0},
	} {
		b := EncodeStreamPage(subjNames, slices.Clone(items), tc.offset, []string{"ignored"})
		got = streamNamesResponse{}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.Type != typeStreamNames || got.Total != namesLimit+10 || got.Offset != tc.lo || got.Limit != namesLimit || len(got.Streams) != tc.n ||
			!slices.Equal(got.Streams, sorted[tc.lo:tc.lo+tc.n]) || strings.Contains(string(b), "missing") {
			t.Fatalf("offset %d: total %d offset %d limit %d, %d names", tc.offset, got.Total, got.Offset, got.Limit, len(got.Streams))
		}
	}
	// No streams at all: an empty list, as a server alone answers.
	if b := string(EncodeStreamPage(subjNames, nil, 0, nil)); b != `{"type":"io.nats.jetstream.api.v1.stream_names_response","total":0,"offset":0,"limit":1024,"streams":[]}` {
		t.Errorf("empty: %s", b)
	}
}

func streamInfoItem(name string, msgs int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"config":{"name":%q,"subjects":[%q],"retention":"limits","storage":"file","discard":"old"},"created":"2026-01-01T00:00:00Z","state":{"messages":%d}}`, name, name, msgs))
}

func TestEncodeStreamPageList(t *testing.T) {
	var items []json.RawMessage
	for i := range listLimit + 3 {
		n := (i * 31) % (listLimit + 3)
		items = append(items, streamInfoItem(fmt.Sprintf("s%04d", n), n))
	}
	b := EncodeStreamPage(subjList, items, 2, []string{"m1", "m2"})
	var got struct {
		Type                 string
		Total, Offset, Limit int
		Missing              []string
		Streams              []StreamInfo
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != typeStreamList || got.Total != listLimit+3 || got.Offset != 2 || got.Limit != listLimit || len(got.Streams) != listLimit || !slices.Equal(got.Missing, []string{"m1", "m2"}) {
		t.Fatalf("total %d offset %d limit %d, %d infos, missing %v", got.Total, got.Offset, got.Limit, len(got.Streams), got.Missing)
	}
	for i, si := range got.Streams {
		if want := fmt.Sprintf("s%04d", i+2); si.Config.Name != want || si.State.Msgs != uint64(i+2) {
			t.Fatalf("info %d: %s with %d messages, want %s", i, si.Config.Name, si.State.Msgs, want)
		}
	}
	b = EncodeStreamPage(subjList, items, listLimit+1, nil)
	got.Streams, got.Missing = nil, nil
	if err := json.Unmarshal(b, &got); err != nil || len(got.Streams) != 2 || got.Streams[1].Config.Name != fmt.Sprintf("s%04d", listLimit+2) || got.Missing != nil {
		t.Fatalf("last page: %s", b)
	}
	if b := string(EncodeStreamPage(subjList, nil, 0, nil)); !strings.Contains(b, `"total":0`) || !strings.Contains(b, `"streams":[]`) {
		t.Errorf("empty: %s", b)
	}
	// An item that does not decode is left out of the page.
	b = EncodeStreamPage(subjList, []json.RawMessage{json.RawMessage(`nope`), streamInfoItem("a", 1)}, 0, nil)
	got.Streams = nil
	if err := json.Unmarshal(b, &got); err != nil || len(got.Streams) != 1 || got.Streams[0].Config.Name != "a" {
		t.Errorf("with an undecodable item: %s", b)
	}
}

// TestEncodeStreamPageDuplicates: a stream two nodes answer for (a
// conflict the log reports) is listed once, and counted once.
func TestEncodeStreamPageDuplicates(t *testing.T) {
	names := []json.RawMessage{[]byte(`"B"`), []byte(`"A"`), []byte(`"B"`)}
	var n struct {
		Total   int      `json:"total"`
		Streams []string `json:"streams"`
	}
	if err := json.Unmarshal(EncodeStreamPage(subjNames, names, 0, nil), &n); err != nil || n.Total != 2 || len(n.Streams) != 2 {
		t.Fatalf("names %+v %v", n, err)
	}
	infos := []json.RawMessage{[]byte(`{"config":{"name":"B"}}`), []byte(`{"config":{"name":"A"}}`), []byte(`{"config":{"name":"B"}}`)}
	var l struct {
		Total   int               `json:"total"`
		Streams []json.RawMessage `json:"streams"`
	}
	if err := json.Unmarshal(EncodeStreamPage(subjList, infos, 0, nil), &l); err != nil || l.Total != 2 || len(l.Streams) != 2 {
		t.Fatalf("list %+v %v", l, err)
	}
}
