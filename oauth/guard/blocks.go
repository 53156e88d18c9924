package guard

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/gaia-platform/iam/storage"
)

// blockList is the block list as this server last loaded it.
type blockList struct {
	refresh time.Duration

	mu     sync.Mutex
	loaded time.Time // monotonic; zero: load before the next check
	// bits lists the prefix lengths in use, and expires maps each blocked
	// prefix to its expiry (zero: never): a check masks the address once
	// per length in use, whatever the number of entries.
	bits    []int
	expires map[netip.Prefix]time.Time
}

// contains reports whether a is blocked at now, reloading the list when it
// is older than the refresh interval. A reload that fails keeps the list
// loaded before, if any, and logs why.
func (b *blockList) contains(ctx context.Context, store storage.Blocks, a netip.Addr, now time.Time, log *slog.Logger) (bool, error) {
	if !a.IsValid() {
		return false, nil
	}
	a = a.Unmap().WithZone("")
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.loaded.IsZero() || time.Since(b.loaded) > b.refresh {
		if err := b.loadLocked(ctx, store); err != nil {
			if b.expires == nil {
				return false, fmt.Errorf("load block list: %w", err)
			}
			log.ErrorContext(ctx, "reloading the block list failed; using the one loaded before", "error", err)
		}
	}
	for _, n := range b.bits {
		if n > a.BitLen() {
			continue
		}
		p, err := a.Prefix(n)
		if err != nil {
			continue
		}
		if exp, ok := b.expires[p]; ok && (exp.IsZero() || now.Before(exp)) {
			return true, nil
		}
	}
	return false, nil
}

func (b *blockList) loadLocked(ctx context.Context, store storage.Blocks) error {
	bs, err := store.ListBlocks(ctx)
	if err != nil {
		return err
	}
	b.expires = make(map[netip.Prefix]time.Time, len(bs))
	b.bits = b.bits[:0]
	for _, x := range bs {
		b.expires[x.Prefix] = x.ExpiresAt
		if !slices.Contains(b.bits, x.Prefix.Bits()) {
			b.bits = append(b.bits, x.Prefix.Bits())
		}
	}
	b.loaded = time.Now()
	return nil
}

// forget makes the next check reload the list.
func (b *blockList) forget() {
	b.mu.Lock()
	b.loaded = time.Time{}
	b.mu.Unlock()
}

// AddBlock adds a block, in the transaction ctx carries; this server
// applies it from the next request, the others within BlockRefresh.
func (g *Guard) AddBlock(ctx context.Context, b *storage.Block) error {
	defer g.blocks.forget()
	return g.store.CreateBlock(ctx, b)
}

// RemoveBlock removes the block with id, as AddBlock adds one.
func (g *Guard) RemoveBlock(ctx context.Context, id string) error {
	defer g.blocks.forget()
	return g.store.DeleteBlock(ctx, id)
}

// Blocks lists the block list, expired entries included until purged.
func (g *Guard) Blocks(ctx context.Context) ([]storage.Block, error) {
	return g.store.ListBlocks(ctx)
}
