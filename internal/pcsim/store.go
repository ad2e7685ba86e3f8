package pcsim

import (
	"hash/maphash"
	"sync"
)

// shardCount spreads keys over independent locks so that thousands of carts and a hundred
// concurrent requests rarely wait for each other.
const shardCount = 64

// shardedMap is a string-keyed map split into shards with one RWMutex each. Values are
// pointers whose own fields are guarded by their own mutexes.
type shardedMap[V any] struct {
	seed   maphash.Seed
	shards [shardCount]mapShard[V]
}

type mapShard[V any] struct {
	mu sync.RWMutex
	m  map[string]V
}

func newShardedMap[V any]() *shardedMap[V] {
	s := &shardedMap[V]{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[string]V)
	}
	return s
}

func (s *shardedMap[V]) shard(key string) *mapShard[V] {
	return &s.shards[maphash.String(s.seed, key)%shardCount]
}

func (s *shardedMap[V]) get(key string) (V, bool) {
	sh := s.shard(key)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	v, ok := sh.m[key]
	return v, ok
}

func (s *shardedMap[V]) put(key string, v V) {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.m[key] = v
}

func (s *shardedMap[V]) delete(key string) {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	delete(sh.m, key)
}

// getOrCreate returns the value for key, storing newV() first if there is none.
func (s *shardedMap[V]) getOrCreate(key string, newV func() V) V {
	if v, ok := s.get(key); ok {
		return v
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if v, ok := sh.m[key]; ok {
		return v
	}
	v := newV()
	sh.m[key] = v
	return v
}
