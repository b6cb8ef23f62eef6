// Package heap is a minimal binary min-heap of ints (node or branch
// indices) ordered by a caller-supplied less function. The policies only
// ever look at, change or remove the top element, so that is all it offers.
package heap

// Heap is a min-heap of ints under Less.
type Heap struct {
	Items []int
	Less  func(a, b int) bool
}

// Init orders Items.
func (h *Heap) Init() {
	for i := len(h.Items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// Len is the number of items.
func (h *Heap) Len() int { return len(h.Items) }

// Top returns the least item; the heap must not be empty.
func (h *Heap) Top() int { return h.Items[0] }

// Pop removes the least item.
func (h *Heap) Pop() {
	n := len(h.Items) - 1
	h.Items[0] = h.Items[n]
	h.Items = h.Items[:n]
	if n > 0 {
		h.down(0)
	}
}

// FixTop restores order after the top item's key changed.
func (h *Heap) FixTop() { h.down(0) }

func (h *Heap) down(i int) {
	items := h.Items
	n := len(items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && h.Less(items[r], items[l]) {
			j = r
		}
		if !h.Less(items[j], items[i]) {
			return
		}
		items[i], items[j] = items[j], items[i]
		i = j
	}
}
