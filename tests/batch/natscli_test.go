package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/testserver"
)

// natsRun runs natscli against url with stdin and returns its combined
// output; it fails t when the command fails.
func natsRun(t *testing.T, url, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testserver.MustTool(t, "nats"),
		append([]string{"--server", url, "--no-context", "--timeout", "5s"}, args...)...)
	cmd.Env = append(cmd.Environ(), "HOME="+t.TempDir())
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("nats %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestNatsCLI enables atomic publish with `nats stream edit
// --allow-batch` and publishes a batch with `nats pub --atomic`, on
// both servers.
func TestNatsCLI(t *testing.T) {
	wrote := regexp.MustCompile(`Wrote batch ID: \S+ Messages: (\d+) Sequence: (\d+)`)
	for _, tg := range both(t, "") {
		natsRun(t, tg.url, "", "stream", "add", "ORDERS", "--subjects", "orders.>", "--defaults")
		natsRun(t, tg.url, "", "stream", "edit", "ORDERS", "--allow-batch", "-f")
		var info struct {
			Config struct {
				AllowAtomic bool              `json:"allow_atomic"`
				Metadata    map[string]string `json:"metadata"`
			} `json:"config"`
		}
		if err := json.Unmarshal([]byte(natsRun(t, tg.url, "", "stream", "info", "ORDERS", "--json")), &info); err != nil {
			t.Fatalf("%s: stream info: %v", tg.name, err)
		}
		if !info.Config.AllowAtomic || info.Config.Metadata["_nats.req.level"] != "2" {
			t.Fatalf("%s: after edit: allow_atomic %v, required level %q", tg.name, info.Config.AllowAtomic, info.Config.Metadata["_nats.req.level"])
		}
		out := natsRun(t, tg.url, "one\ntwo\nthree\n", "pub", "orders.new", "--atomic", "--send-on=newline", "--force-stdin")
		m := wrote.FindStringSubmatch(out)
		if m == nil || m[1] != "3" || m[2] != "3" {
			t.Fatalf("%s: nats pub --atomic: %s", tg.name, out)
		}
		js := newJS(t, connect(t, tg.url))
		s, err := js.Stream(context.Background(), "ORDERS")
		if err != nil {
			t.Fatal(err)
		}
		for seq, want := range map[uint64]string{1: "one", 2: "two", 3: "three"} {
			msg, err := s.GetMsg(context.Background(), seq)
			if err != nil || string(msg.Data) != want || msg.Header.Get("Nats-Batch-Sequence") != string(rune('0'+seq)) {
				t.Fatalf("%s: message %d: %v %v", tg.name, seq, msg, err)
			}
		}
	}
}
