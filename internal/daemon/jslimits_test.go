package daemon

import (
	"testing"

	"github.com/cairn-db/cairn/internal/store"
)

func TestJetStreamLimits(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, c := range []store.Config{
		{Name: "F", Subjects: []string{"f"}},
		{Name: "M", Subjects: []string{"m"}, Storage: store.MemoryStorage},
	} {
		s, err := st.CreateStream(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(c.Subjects[0], nil, make([]byte, 1000), store.AppendOpts{}); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := st.Stream("F")
	if got, want := storedBytes([]*store.Store{st}), int64(f.State().Bytes); got != want {
		t.Errorf("stored bytes %d, want %d (the file stream only)", got, want)
	}

	mem, file := jetStreamLimits(&Config{StoreDir: dir, MaxMemoryStore: 5, MaxFileStore: -7}, []*store.Store{st})
	if mem != 5 || file != -1 {
		t.Errorf("given limits: %d, %d; want 5, -1", mem, file)
	}
	mem, file = jetStreamLimits(&Config{StoreDir: dir}, []*store.Store{st})
	if mem <= 0 || file <= storedBytes([]*store.Store{st})/4*3 {
		t.Errorf("default limits: memory %d, file %d", mem, file)
	}
	if total := systemMemory(); total > 0 && mem > total {
		t.Errorf("memory limit %d above the system's %d", mem, total)
	}
}
