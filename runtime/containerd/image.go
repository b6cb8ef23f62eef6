package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"syscall"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"github.com/shoal-project/shoal/runtime"
)

// normalizeRef parses an image reference the way docker does ("busybox" ->
// "docker.io/library/busybox:latest"). A malformed reference is ErrInvalidSpec.
func normalizeRef(ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("%w: container task without an image", runtime.ErrInvalidSpec)
	}
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("%w: image reference %q: %v", runtime.ErrInvalidSpec, ref, err)
	}
	return named.String(), nil
}

func (b *Backend) resolver() remotes.Resolver {
	insecure := b.cfg.InsecureRegistries
	hosts := docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(func(host string) (bool, error) {
		return slices.Contains(insecure, host), nil
	}))
	return docker.NewResolver(docker.ResolverOptions{Hosts: hosts})
}

// image returns the unpacked image for ref, pulling it at most once at a time per
// reference however many tasks ask concurrently.
func (b *Backend) image(ctx context.Context, ref string) (client.Image, error) {
	ctx = b.withNS(ctx)
	if img, err := b.localImage(ctx, ref); err == nil {
		return img, nil
	}
	ch := b.pulls.DoChan(ref, func() (any, error) {
		// Detached from the first caller's context so that a cancelled caller does not
		// fail the others waiting on the same pull; bounded by the backend's lifetime.
		return b.pull(b.ctx, ref)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(client.Image), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("pull %s: %w", ref, ctx.Err())
	}
}

func (b *Backend) localImage(ctx context.Context, ref string) (client.Image, error) {
	img, err := b.client.GetImage(ctx, ref)
	if err != nil {
		return nil, err
	}
	ok, err := img.IsUnpacked(ctx, b.cfg.Snapshotter)
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := img.Unpack(ctx, b.cfg.Snapshotter); err != nil {
			return nil, err
		}
	}
	return img, nil
}

func (b *Backend) pull(ctx context.Context, ref string) (client.Image, error) {
	if img, err := b.localImage(ctx, ref); err == nil {
		return img, nil
	}
	b.log.Info("pulling image", "ref", ref)
	b.pulled.Add(1)
	img, err := b.client.Pull(ctx, ref,
		client.WithResolver(b.resolver()),
		client.WithPullUnpack,
		client.WithPullSnapshotter(b.cfg.Snapshotter),
	)
	if err != nil {
		return nil, classifyPullError(ref, err)
	}
	return img, nil
}

// classifyPullError maps a pull failure onto the runtime sentinels.
func classifyPullError(ref string, err error) error {
	switch {
	case errdefs.IsNotFound(err):
		return fmt.Errorf("pull %s: %w (%v)", ref, runtime.ErrImageNotFound, err)
	case registryUnreachable(err):
		return fmt.Errorf("pull %s: %w (%v)", ref, runtime.ErrRegistryDown, err)
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		host := ref
		if named, perr := reference.ParseNormalizedNamed(ref); perr == nil {
			host = reference.Domain(named)
		}
		return fmt.Errorf("pull %s: %w: registry %s speaks plain HTTP; add it to the insecure registries (%v)", ref, runtime.ErrRegistryDown, host, err)
	default:
		return fmt.Errorf("pull %s: %w", ref, err)
	}
}

func registryUnreachable(err error) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var urlErr *url.Error
	switch {
	case errors.As(err, &opErr), errors.As(err, &dnsErr):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return true
	case errors.As(err, &urlErr) && urlErr.Timeout():
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") ||
		strings.Contains(msg, "i/o timeout") || strings.Contains(msg, "network is unreachable")
}

// ErrNoImageNames means an archive held no image with a name to run it by (an OCI
// layout's index entries need an org.opencontainers.image.ref.name annotation).
var ErrNoImageNames = errors.New("the archive names no image (an OCI layout needs org.opencontainers.image.ref.name annotations, a docker archive RepoTags)")

// ImportArchive loads an OCI or Docker image archive (as written by `docker save` or
// an OCI layout tar) into the node's namespace and unpacks every image in it. It
// returns the names of the imported images.
func (b *Backend) ImportArchive(ctx context.Context, r io.Reader) ([]string, error) {
	ctx = b.withNS(ctx)
	imgs, err := b.client.Import(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("import image archive: %w", err)
	}
	names := make([]string, 0, len(imgs))
	for _, im := range imgs {
		img := client.NewImage(b.client, im)
		if err := img.Unpack(ctx, b.cfg.Snapshotter); err != nil {
			return names, fmt.Errorf("import image archive: unpack %s: %w", im.Name, err)
		}
		names = append(names, im.Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("import image archive: %w", ErrNoImageNames)
	}
	return names, nil
}
