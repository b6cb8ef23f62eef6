package store

// objSet is the set of objects under one key of a secondary index. Most
// keys of some indexes hold one object (a slot's task, a node's hostname, a
// unique name), and a Go map of one entry costs ~300 bytes: the set keeps
// a single member inline and makes a map only for a second one.
type objSet struct {
	one  Object            // the only member, when many is nil
	many map[string]Object // two or more members, by ID
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

// put adds o under id, replacing a member of the same ID.
func (s *objSet) put(id string, o Object) {
	switch {
	case s.many != nil:
		s.many[id] = o
	case s.one == nil || s.one.GetId() == id:
		s.one = o
	default:
		s.many = map[string]Object{s.one.GetId(): s.one, id: o}
		s.one = nil
	}
}

// del removes the member id, if present.
func (s *objSet) del(id string) {
	if s.many == nil {
		if s.one != nil && s.one.GetId() == id {
			s.one = nil
		}
		return
	}
	delete(s.many, id)
	if len(s.many) == 1 {
		for _, o := range s.many {
			s.one = o
		}
		s.many = nil
	}
}

// appendTo appends the members to out (unsorted).
func (s *objSet) appendTo(out []Object) []Object {
	if s.many == nil {
		if s.one != nil {
			out = append(out, s.one)
		}
		return out
	}
	for _, o := range s.many {
		out = append(out, o)
	}
	return out
}
