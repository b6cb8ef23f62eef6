package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

var (
	bucketTasks  = []byte("tasks")  // task ID -> shoalv1.Task (the assignment)
	bucketStatus = []byte("status") // task ID -> shoalv1.TaskStatus (last reported)
)

// ErrStateFile is returned when the agent state file cannot be used.
var ErrStateFile = errors.New("agent: state file")

// stateDB persists assignments and last statuses; with no file it only
// keeps nothing (memory mode: the agent's maps are the only copy).
type stateDB struct {
	mu sync.Mutex
	db *bolt.DB // nil in memory mode
}

func openState(dir string) (*stateDB, error) {
	if dir == "" {
		return &stateDB{}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStateFile, err)
	}
	path := filepath.Join(dir, "agent.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %w", ErrStateFile, path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketTasks, bucketStatus} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: %w", ErrStateFile, err)
	}
	return &stateDB{db: db}, nil
}

func (s *stateDB) close() error {
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}

// load returns the stored assignments and statuses.
func (s *stateDB) load() (map[string]*shoalv1.Task, map[string]*shoalv1.TaskStatus, error) {
	tasks := make(map[string]*shoalv1.Task)
	sts := make(map[string]*shoalv1.TaskStatus)
	if s.db == nil {
		return tasks, sts, nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketTasks).ForEach(func(k, v []byte) error {
			t := &shoalv1.Task{}
			if err := proto.Unmarshal(v, t); err != nil {
				return fmt.Errorf("task %s: %w", k, err)
			}
			tasks[string(k)] = t
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketStatus).ForEach(func(k, v []byte) error {
			st := &shoalv1.TaskStatus{}
			if err := proto.Unmarshal(v, st); err != nil {
				return fmt.Errorf("status %s: %w", k, err)
			}
			sts[string(k)] = st
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: load: %w", ErrStateFile, err)
	}
	return tasks, sts, nil
}

// apply stores put and deletes del (assignments), in one transaction; with
// replace it first drops every stored assignment.
func (s *stateDB) apply(replace bool, put []*shoalv1.Task, del []string) error {
	if s.db == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTasks)
		if replace {
			if err := tx.DeleteBucket(bucketTasks); err != nil {
				return err
			}
			nb, err := tx.CreateBucket(bucketTasks)
			if err != nil {
				return err
			}
			b = nb
		}
		for _, t := range put {
			v, err := proto.Marshal(t)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(t.GetId()), v); err != nil {
				return err
			}
		}
		for _, id := range del {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *stateDB) putStatus(id string, st *shoalv1.TaskStatus) error {
	if s.db == nil {
		return nil
	}
	v, err := proto.Marshal(st)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketStatus).Put([]byte(id), v) })
}

func (s *stateDB) deleteStatus(id string) error {
	if s.db == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketStatus).Delete([]byte(id)) })
}
