package sdk

import "google.golang.org/protobuf/encoding/protowire"

// Field numbers follow proto/shoal/plugin/v1/abi.proto.

// Marshal encodes the request in the ABI wire format.
func (r *AllocateRequest) Marshal() []byte { return r.AppendMarshal(nil) }

// AppendMarshal appends the encoding of r to b.
func (r *AllocateRequest) AppendMarshal(b []byte) []byte {
	for i := range r.Networks {
		n := &r.Networks[i]
		b = appendMessage(b, 1, func(b []byte) []byte {
			b = appendString(b, 1, n.ID)
			b = appendString(b, 2, n.Subnet)
			b = appendString(b, 3, n.Gateway)
			return appendRepeatedString(b, 4, n.Allocated)
		})
	}
	for i := range r.Addresses {
		a := &r.Addresses[i]
		b = appendMessage(b, 2, func(b []byte) []byte {
			b = appendString(b, 1, a.ID)
			return appendString(b, 2, a.NetworkID)
		})
	}
	for i := range r.Ports {
		p := &r.Ports[i]
		b = appendMessage(b, 3, func(b []byte) []byte {
			b = appendString(b, 1, p.ID)
			return appendString(b, 2, p.Protocol)
		})
	}
	for i := range r.UsedPorts {
		u := &r.UsedPorts[i]
		b = appendMessage(b, 4, func(b []byte) []byte {
			b = appendString(b, 1, u.Protocol)
			return appendVarint(b, 2, uint64(u.Port))
		})
	}
	b = appendVarint(b, 5, uint64(r.PortRangeStart))
	b = appendVarint(b, 6, uint64(r.PortRangeEnd))
	return b
}

// UnmarshalAllocateRequest decodes a request. Unknown fields are skipped.
func UnmarshalAllocateRequest(b []byte) (*AllocateRequest, error) {
	return decodeMessage(b, func(r *AllocateRequest, d *decoder, num protowire.Number, typ protowire.Type) bool {
		switch num {
		case 1:
			var n Network
			d.message(typ, func(d *decoder) {
				d.fields(func(num protowire.Number, typ protowire.Type) bool {
					switch num {
					case 1:
						n.ID = d.string(typ)
					case 2:
						n.Subnet = d.string(typ)
					case 3:
						n.Gateway = d.string(typ)
					case 4:
						n.Allocated = append(n.Allocated, d.string(typ))
					default:
						return false
					}
					return true
				})
			})
			r.Networks = append(r.Networks, n)
		case 2:
			var a AddressRequest
			d.message(typ, func(d *decoder) {
				d.fields(func(num protowire.Number, typ protowire.Type) bool {
					switch num {
					case 1:
						a.ID = d.string(typ)
					case 2:
						a.NetworkID = d.string(typ)
					default:
						return false
					}
					return true
				})
			})
			r.Addresses = append(r.Addresses, a)
		case 3:
			var p PortRequest
			d.message(typ, func(d *decoder) {
				d.fields(func(num protowire.Number, typ protowire.Type) bool {
					switch num {
					case 1:
						p.ID = d.string(typ)
					case 2:
						p.Protocol = d.string(typ)
					default:
						return false
					}
					return true
				})
			})
			r.Ports = append(r.Ports, p)
		case 4:
			var u UsedPort
			d.message(typ, func(d *decoder) {
				d.fields(func(num protowire.Number, typ protowire.Type) bool {
					switch num {
					case 1:
						u.Protocol = d.string(typ)
					case 2:
						u.Port = d.uint32(typ)
					default:
						return false
					}
					return true
				})
			})
			r.UsedPorts = append(r.UsedPorts, u)
		case 5:
			r.PortRangeStart = d.uint32(typ)
		case 6:
			r.PortRangeEnd = d.uint32(typ)
		default:
			return false
		}
		return true
	})
}

// Marshal encodes the response in the ABI wire format.
func (r *AllocateResponse) Marshal() []byte { return r.AppendMarshal(nil) }

// AppendMarshal appends the encoding of r to b.
func (r *AllocateResponse) AppendMarshal(b []byte) []byte {
	for i := range r.Addresses {
		a := &r.Addresses[i]
		b = appendMessage(b, 1, func(b []byte) []byte {
			b = appendString(b, 1, a.Address)
			return appendVarint(b, 2, uint64(a.Code))
		})
	}
	for i := range r.Ports {
		p := &r.Ports[i]
		b = appendMessage(b, 2, func(b []byte) []byte {
			b = appendVarint(b, 1, uint64(p.Port))
			return appendVarint(b, 2, uint64(p.Code))
		})
	}
	b = appendString(b, 3, r.Error)
	return b
}

// UnmarshalAllocateResponse decodes a response. Unknown fields are skipped.
func UnmarshalAllocateResponse(b []byte) (*AllocateResponse, error) {
	return decodeMessage(b, func(r *AllocateResponse, d *decoder, num protowire.Number, typ protowire.Type) bool {
		switch num {
		case 1:
			var a AddressResult
			d.message(typ, func(d *decoder) {
				d.fields(func(num protowire.Number, typ protowire.Type) bool {
					switch num {
					case 1:
						a.Address = d.string(typ)
					case 2:
						a.Code = AllocCode(d.uint32(typ))
					default:
						return false
					}
					return true
				})
			})
			r.Addresses = append(r.Addresses, a)
		case 2:
			var p PortResult
			d.message(typ, func(d *decoder) {
				d.fields(func(num protowire.Number, typ protowire.Type) bool {
					switch num {
					case 1:
						p.Port = d.uint32(typ)
					case 2:
						p.Code = AllocCode(d.uint32(typ))
					default:
						return false
					}
					return true
				})
			})
			r.Ports = append(r.Ports, p)
		case 3:
			r.Error = d.string(typ)
		default:
			return false
		}
		return true
	})
}
