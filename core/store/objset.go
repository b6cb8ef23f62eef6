package store

// objSet is the set of objects under one key of a secondary index. Most
// keys of some indexes hold one object (a slot's task, a node's hostname, a
// unique name), and a Go map of one entry costs ~300 bytes: the set keeps
// a single member inline and makes a map only for a second one.
type objSet struct {
	one  *cell            // the only member, when many is nil
	many map[string]*cell // two or more members, by ID
}

func (s *objSet) len() int {
	if s.many != nil {
		return len(s.many)
	}
	if s.one != nil {
		return 1
	}
	return 0
}

// put adds c (the cell of id), replacing a member of the same ID.
func (s *objSet) put(id string, c *cell) {
	switch {
	case s.many != nil:
		s.many[id] = c
	case s.one == nil || s.one.o.GetId() == id:
		s.one = c
	default:
		s.many = map[string]*cell{s.one.o.GetId(): s.one, id: c}
		s.one = nil
	}
}

// del removes the member id, if present.
func (s *objSet) del(id string) {
	if s.many == nil {
		if s.one != nil && s.one.o.GetId() == id {
			s.one = nil
		}
		return
	}
	delete(s.many, id)
	if len(s.many) == 1 {
		for _, c := range s.many {
			s.one = c
		}
		s.many = nil
	}
}

// appendTo appends the members to out (unsorted).
func (s *objSet) appendTo(out []Object) []Object {
	if s.many == nil {
		if s.one != nil {
			out = append(out, s.one.o)
		}
		return out
	}
	for _, c := range s.many {
		out = append(out, c.o)
	}
	return out
}
