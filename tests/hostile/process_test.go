package hostile

import (
	"testing"

	"github.com/cairn-db/cairn/internal/testserver"
)

// startProcess runs the real cairn-server binary over dir with extra
// flags, for the tests that kill it with SIGKILL; it is killed when t
// ends.
func startProcess(t *testing.T, dir string, args ...string) *testserver.Process {
	t.Helper()
	return testserver.StartCairnProcess(t, dir, args...)
}
