//go:build race

package store

// raceOn: built with -race, under which sync.Pool drops items at random
// (allocation counts mean nothing).
const raceOn = true
