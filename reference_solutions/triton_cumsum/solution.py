"""Masked prefix sum: the reference solution, a single-pass Triton scan with decoupled look-back.

y[0] = 0 and y[i] = sum_{1 <= j <= i} x[j] * (number of positive values in x[0..j-1] is odd),
in int32 arithmetic that wraps around.

Each tile of BLOCK elements is read once and written once (8 bytes of memory traffic per element,
the same as a copy). By default one program handles one tile:

1. Its tile is its program id: a tile only ever waits for tiles before it, which a GPU starts
   first (NVIDIA GPUs start a launch's programs in order, which CUB's single-pass scans also rely
   on). With `ordered=True` the tile number comes from a global counter instead, so a tile never
   waits for one that has not started however the GPU schedules (about 10% slower on an H100).
   With `persistent=True` a grid of a few programs per SM takes tiles from that counter until none
   is left, and claims and loads its next tile before it looks back on the current one, so that
   the next tile's load is in flight while the current tile waits (not timed on a GPU yet).
2. It loads its tile, scans the positivity flags (the exclusive parity inside the tile)
   and reduces the tile to an element of a monoid, (c, e, o):
      c = parity of the number of positive values in the tile,
      e = the tile's contribution to y if the parity entering it is even,
      o = the same if the parity entering it is odd (o = sum(x) - e).
   Two tiles combine as (c1, e1, o1) . (c2, e2, o2) =
      (c1 ^ c2, e1 + (o2 if c1 else e2), o1 + (e2 if c1 else o2)).
3. It publishes that aggregate (flag A; tile 0 publishes its inclusive prefix at once), then
   looks back at earlier tiles, a window of WINDOW of them at a time (by default one per thread,
   so each word is read by exactly one thread; `window=32` reads one warp's width, which every
   warp reads alike, and keeps the loop's reductions inside a warp): it finds the nearest one that has published its
   inclusive prefix (flag P), a pair (q, s) = (parity after that tile, y at its end), and
   folds in the aggregates of the tiles after it, oldest first; a tile not ready yet stops
   the fold there (the ready tiles after it are kept) and the window is read again. Then it
   publishes its own inclusive prefix (flag P) for the tiles after it.
4. With the parity q entering the tile and the sum s before it, it writes
   y = s + cumsum(x where (local exclusive parity ^ q) is odd); with `scan_early=True` the scans
   for both values of q are made before the look-back, and only a select is left after it.

A variant, `chunked_prefix_sum`, gives each program a chunk of several tiles: it reads them one
after another and folds their (c, e, o), publishes and looks back once for the chunk, then reads
them again, from the L2 where the first pass left them, to write y. The input crosses the L2 twice
but is read from memory once, and one look-back serves the whole chunk (not timed yet).

Only additive scans and sums are used (tl.cumsum, tl.sum, tl.max): folding the window with the
monoid's own combine through tl.reduce is not safe on a GPU, where a reduction may combine
elements out of order. Every loop decision comes from a reduction or a scalar atomic, whose
results all threads of a program share. Every atomic is relaxed (no memory fence in the kernel):
the words below are self-checking and nothing else passes between programs.

Each tile's state is two int64 words: word0 = [epoch:28 | flag:2 | parity:1 | value:32] and
word1 = [epoch:32 | o:32]. A reader checks the epoch of each word, so it needs no ordering
between them; the epoch (a call counter) also makes words left by earlier calls invalid, so the
state never needs to be cleared between calls; the tile counter only ever grows (an ordered call
adds its tile count, a persistent one its tile count plus its grid: each program's last claim
finds no tile).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK_CUDA = 4096      # elements per tile on a GPU (the best of benchmarks/triton_cumsum.py's sweep on an H100)
WARPS_CUDA = 4         # also in Triton's interpreter
BLOCK_INTERPRETER = 256  # small tiles in Triton's interpreter, so that small inputs span many tiles
PERSISTENT_PROGRAMS_PER_SM = 16  # persistent launches: more than fit (see _persistent_grid)
# on a GPU, prefix_sum's options: masked_prefix_sum's keywords (ordered, persistent, scan_early, window,
# streaming), or {"chunk": k, ...} for chunked_prefix_sum; none (one tile per program, tiles in program-id
# order) until benchmarks/triton_cumsum.py's sweep finds a faster configuration on a GPU
CUDA_OPTIONS: dict = {}

_EPOCH_LIMIT = 1 << 28      # the epoch field's width
_COUNTER_LIMIT = (1 << 31) - 1  # keep the counter's base an int32 argument (no recompilation)


@triton.jit
def _max2(a0, a1, b0, b1):
    return tl.maximum(a0, b0), tl.maximum(a1, b1)


@triton.jit
def _add5(a0, a1, a2, a3, a4, b0, b1, b2, b3, b4):
    return a0 + b0, a1 + b1, a2 + b2, a3 + b3, a4 + b4


@triton.jit
def _look_back(state_ptr, tile, epoch, c, e, WINDOW: tl.constexpr):
    """(q, s) entering `tile`: the parity and the sum of everything before it."""
    # windows of WINDOW earlier tiles (one word pair per thread); every decision comes from a
    # reduction, so all threads of the program take the same branch
    lanes = tl.arange(0, WINDOW)
    hi = tile - 1                   # the highest earlier tile not folded yet
    acc_c = c * 0                   # aggregate of tiles hi+1 .. tile-1
    acc_e = e * 0
    acc_o = e * 0
    q_in = c * 0
    s_in = e * 0
    searching = (tile > 0).to(tl.int32)
    while searching != 0:
        idx = hi - (WINDOW - 1) + lanes
        inb = idx >= 0
        ptrs = state_ptr + 2 * idx.to(tl.int64)
        w0 = tl.load(ptrs, mask=inb, other=0, volatile=True)
        w1 = tl.load(ptrs + 1, mask=inb, other=0, volatile=True)
        live = inb & ((w0 >> 35) == epoch)
        f = (w0 >> 33) & 3
        is_p = live & (f == 2)
        is_a = live & (f == 1) & ((w1 >> 32) == epoch)
        # the nearest prefix, and the latest tile not ready (if it is after that prefix, the fold stops
        # there): two maxima in one reduction, then five sums in another (few barriers per window)
        last_p, gap = tl.reduce((tl.where(is_p, idx, -1), tl.where(inb & (is_a == 0) & (is_p == 0), idx, -1)), 0,
                                _max2)
        # fold the ready tiles after both: additive scans and sums only (order-safe on a GPU)
        sel = inb & (idx > tl.maximum(last_p, gap))
        wc = tl.where(sel, ((w0 >> 32) & 1).to(tl.int32), 0)
        we = tl.where(sel, (w0 & 0xFFFFFFFF).to(tl.int32), 0)
        wo = tl.where(sel, (w1 & 0xFFFFFFFF).to(tl.int32), 0)
        entering = (tl.cumsum(wc, axis=0) - wc) & 1
        at_p = idx == last_p
        fc, fe, fo, pq, ps = tl.reduce((wc, tl.where(entering == 1, wo, we), tl.where(entering == 1, we, wo),
                                        tl.where(at_p, ((w0 >> 32) & 1).to(tl.int32), 0),
                                        tl.where(at_p, (w0 & 0xFFFFFFFF).to(tl.int32), 0)), 0, _add5)
        fc = fc & 1
        new_e = fe + tl.where(fc == 1, acc_o, acc_e)
        new_o = fo + tl.where(fc == 1, acc_e, acc_o)
        acc_c = fc ^ acc_c
        acc_e = new_e
        acc_o = new_o
        found = (last_p >= 0) & (gap < last_p)
        q_in = tl.where(found, pq ^ acc_c, q_in)
        s_in = tl.where(found, ps + tl.where(pq == 1, acc_o, acc_e), s_in)
        hi = tl.where(gap > last_p, gap, hi - WINDOW)
        searching = tl.where(found, 0, searching)
    return q_in, s_in


@triton.jit
def _tile_parts(x):
    """A loaded tile's parity of positives before each element (inside the tile) and its (c, e, o)."""
    pos = (x > 0).to(tl.int32)
    par = (tl.cumsum(pos, axis=0) - pos) & 1          # parity of positives before j, inside the tile
    c = tl.sum(pos, axis=0) & 1
    e = tl.sum(tl.where(par == 1, x, 0), axis=0)      # contribution if the entering parity is even
    o = tl.sum(x, axis=0) - e                         # ... and if it is odd
    return par, c, e, o


@triton.jit
def _reduce_and_publish(state_ptr, x, tile, epoch):
    """Reduce the loaded tile to (c, e, o) and publish it; also the parity inside the tile."""
    par, c, e, o = _tile_parts(x)

    # publish: word1 = [epoch | o] and word0 = [epoch | flag | c | e]. Tile 0's aggregate is its
    # inclusive prefix (it enters with parity 0 and sum 0), so it publishes flag P at once. Relaxed
    # atomics: each word is read whole and checked by its epoch, and no other memory is handed over
    # through them, so no ordering is needed (a release would put a MEMBAR.ALL.GPU in every tile,
    # which waits for all of the program's outstanding memory operations, prefetched loads included).
    _publish_aggregate(state_ptr, tile, epoch, c, e, o)
    return par, c, e, o


@triton.jit
def _publish_aggregate(state_ptr, tile, epoch, c, e, o):
    """word1 = [epoch | o], then word0 = [epoch | flag A (P for tile 0) | c | e]."""
    word0 = state_ptr + 2 * tile.to(tl.int64)
    tl.atomic_xchg(word0 + 1, (epoch.to(tl.int64) << 32) | (o.to(tl.int64) & 0xFFFFFFFF), sem="relaxed")
    flag = tl.where(tile == 0, 2, 1).to(tl.int64)
    tl.atomic_xchg(word0, (epoch.to(tl.int64) << 35) | (flag << 33) | (c.to(tl.int64) << 32)
                   | (e.to(tl.int64) & 0xFFFFFFFF), sem="relaxed")


@triton.jit
def _publish_prefix(state_ptr, tile, epoch, q_in, s_in, c, e, o):
    """The tile's inclusive prefix (flag P): the parity after it and y at its end (tile 0 published
    its prefix with its aggregate)."""
    if tile > 0:
        q_out = q_in ^ c
        s_out = s_in + tl.where(q_in == 1, o, e)
        tl.atomic_xchg(state_ptr + 2 * tile.to(tl.int64), (epoch.to(tl.int64) << 35) | (2 << 33)
                       | (q_out.to(tl.int64) << 32) | (s_out.to(tl.int64) & 0xFFFFFFFF), sem="relaxed")


@triton.jit
def _add2(a0, a1, b0, b1):
    return a0 + b0, a1 + b1


@triton.jit
def _finish_tile(y_ptrs, mask, state_ptr, x, par, c, e, o, tile, epoch, WINDOW: tl.constexpr,
                 SCAN_EARLY: tl.constexpr, STREAMING: tl.constexpr):
    """Look back, publish the tile's inclusive prefix, write y. With SCAN_EARLY the tile's scans for
    both entering parities are made before the look-back (one pass over a pair: the same registers
    as x and par, which are dead by then), so that they overlap the wait on earlier tiles and only
    a select is left after it."""
    if SCAN_EARLY:
        # y inside the tile if the entering parity is even (x where par is odd), and the plain sum:
        # if it is odd, y inside is the rest (x where par is even)
        even, whole = tl.associative_scan((tl.where(par == 1, x, 0), x), 0, _add2)
    q_in, s_in = _look_back(state_ptr, tile, epoch, c, e, WINDOW)
    _publish_prefix(state_ptr, tile, epoch, q_in, s_in, c, e, o)
    if SCAN_EARLY:
        y = s_in + tl.where(q_in == 1, whole - even, even)
    else:
        y = s_in + tl.cumsum(tl.where((par ^ q_in) == 1, x, 0), axis=0)
    if STREAMING:  # written once, never read here: streamed past the caches (st.global.cs)
        tl.store(y_ptrs, y, mask=mask, cache_modifier=".cs")
    else:
        tl.store(y_ptrs, y, mask=mask)


@triton.jit
def _load_tile(x_ptr, n, tile, BLOCK: tl.constexpr, STREAMING: tl.constexpr):
    """The tile's values (0 past the end); the offsets are the tile's start (a scalar) plus the lanes."""
    start = tile.to(tl.int64) * BLOCK
    lanes = tl.arange(0, BLOCK)
    return _load(x_ptr + start + lanes, lanes < n - start, STREAMING)


@triton.jit
def _load(ptrs, mask, STREAMING: tl.constexpr):
    """Values at ptrs (0 where masked); STREAMING: read once, so the first lines the L2 evicts (the
    state words stay)."""
    if STREAMING:
        return tl.load(ptrs, mask=mask, other=0, eviction_policy="evict_first")
    return tl.load(ptrs, mask=mask, other=0)


@triton.jit
def _claim(counter_ptr, base):
    """The next tile in the order programs ask (a scalar atomic's result reaches every thread of the
    program: Triton broadcasts it). Relaxed: the number only orders the tiles."""
    return (tl.atomic_add(counter_ptr, 1, sem="relaxed") - base).to(tl.int32)


# tiles, base and epoch change from call to call: not specializing on their values (divisibility
# by 16, equality to 1) keeps one compiled kernel instead of a handful compiled during the first calls
@triton.jit(do_not_specialize=["tiles", "base", "epoch"])
def _masked_scan_kernel(x_ptr, y_ptr, state_ptr, counter_ptr, n, tiles, base, epoch, BLOCK: tl.constexpr,
                        WINDOW: tl.constexpr, ORDERED: tl.constexpr = True, PERSISTENT: tl.constexpr = False,
                        SCAN_EARLY: tl.constexpr = False, STREAMING: tl.constexpr = False):
    """One tile per program; or (PERSISTENT) tiles from the counter until none is left, the next
    tile's load issued before the current tile is scanned, so that it is in flight while the current
    tile waits on its look-back."""
    if PERSISTENT:
        tile = _claim(counter_ptr, base)
        x = _load_tile(x_ptr, n, tile, BLOCK, STREAMING)
        while tile < tiles:
            par, c, e, o = _reduce_and_publish(state_ptr, x, tile, epoch)
            # the next tile, claimed once this one's aggregate is out (the claim's round trip then
            # overlaps the wait on earlier tiles); each program's last claim is past the end (its
            # load is all masked), so a call makes tiles + grid claims
            nxt = _claim(counter_ptr, base)
            x_next = _load_tile(x_ptr, n, nxt, BLOCK, STREAMING)
            start = tile.to(tl.int64) * BLOCK
            lanes = tl.arange(0, BLOCK)
            _finish_tile(y_ptr + start + lanes, lanes < n - start, state_ptr, x, par, c, e, o, tile, epoch, WINDOW,
                         SCAN_EARLY, STREAMING)
            tile, x = nxt, x_next
    else:
        if ORDERED:
            tile = _claim(counter_ptr, base)
        else:  # the program id (relies on the GPU starting programs in order, as CUB's scans do)
            tile = tl.program_id(0)
        offs = tile.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = _load(x_ptr + offs, mask, STREAMING)
        par, c, e, o = _reduce_and_publish(state_ptr, x, tile, epoch)
        _finish_tile(y_ptr + offs, mask, state_ptr, x, par, c, e, o, tile, epoch, WINDOW, SCAN_EARLY, STREAMING)


@triton.jit(do_not_specialize=["epoch"])
def _chunked_scan_kernel(x_ptr, y_ptr, state_ptr, n, epoch, BLOCK: tl.constexpr, CHUNK: tl.constexpr,
                         WINDOW: tl.constexpr):
    """One chunk of CHUNK tiles per program (the chunk is its program id): pass 1 reads the tiles one
    after another, folding their (c, e, o) into the chunk's, and leaves them in the L2 (evict_last);
    the chunk's aggregate is published and looked back on as a tile's is; pass 2 reads the tiles
    again (from the L2: evict_first) and writes y tile by tile, carrying the parity and the sum. So
    a look-back serves CHUNK tiles, with one tile's registers."""
    chunk = tl.program_id(0)
    lanes = tl.arange(0, BLOCK)
    first = chunk.to(tl.int64) * (BLOCK * CHUNK)
    acc_c = tl.zeros((), dtype=tl.int32)
    acc_e = tl.zeros((), dtype=tl.int32)
    acc_o = tl.zeros((), dtype=tl.int32)
    for k in range(CHUNK):
        start = first + k * BLOCK
        x = tl.load(x_ptr + start + lanes, mask=lanes < n - start, other=0, eviction_policy="evict_last")
        par, c, e, o = _tile_parts(x)
        # (acc) . (c, e, o): the monoid's combine, the chunk so far first
        new_e = acc_e + tl.where(acc_c == 1, o, e)
        new_o = acc_o + tl.where(acc_c == 1, e, o)
        acc_c = acc_c ^ c
        acc_e = new_e
        acc_o = new_o
    _publish_aggregate(state_ptr, chunk, epoch, acc_c, acc_e, acc_o)
    q, s = _look_back(state_ptr, chunk, epoch, acc_c, acc_e, WINDOW)
    _publish_prefix(state_ptr, chunk, epoch, q, s, acc_c, acc_e, acc_o)
    for k in range(CHUNK):
        start = first + k * BLOCK
        x = tl.load(x_ptr + start + lanes, mask=lanes < n - start, other=0, eviction_policy="evict_first")
        pos = (x > 0).to(tl.int32)
        part = tl.where((((tl.cumsum(pos, axis=0) - pos) & 1) ^ q) == 1, x, 0)
        tl.store(y_ptr + start + lanes, s + tl.cumsum(part, axis=0), mask=lanes < n - start, cache_modifier=".cs")
        s = s + tl.sum(part, axis=0)  # the tile's contribution with the parity q entering it
        q = q ^ (tl.sum(pos, axis=0) & 1)


class _State:
    """Per-device scratch: the tiles' words, the tile counter, and the call epoch."""

    def __init__(self, device: torch.device, tiles: int):
        self.words = torch.zeros(2 * max(tiles, 1), dtype=torch.int64, device=device)
        self.counter = torch.zeros(1, dtype=torch.int64, device=device)
        self.base = 0
        self.epoch = 1


_states: dict[tuple, _State] = {}


def _state_for(device: torch.device, tiles: int, block: int, claims: int) -> _State:
    key = (device.type, device.index, block)
    state = _states.get(key)
    if state is None or state.words.numel() < 2 * tiles:
        state = _states[key] = _State(device, tiles)
    if state.epoch >= _EPOCH_LIMIT or state.base + claims >= _COUNTER_LIMIT:
        state.words.zero_()
        state.counter.zero_()
        state.base, state.epoch = 0, 1
    return state


def _persistent_grid(device: torch.device, tiles: int) -> int:
    """Programs of a persistent launch: more than an SM can hold at once (those that do not fit start
    when the tiles are all taken, find none and end), so every SM is full whatever the registers."""
    if device.type != "cuda":
        return min(tiles, 4)  # Triton's interpreter runs the programs one after another
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    return min(tiles, sms * PERSISTENT_PROGRAMS_PER_SM)


def _setup(x: torch.Tensor, block: int | None, num_warps: int | None):
    """The input made contiguous, a fresh output, and the tile size and warps (by default the GPU's or
    the interpreter's)."""
    x = x.contiguous()
    if block is None:
        block = BLOCK_CUDA if x.is_cuda else BLOCK_INTERPRETER
    return x, torch.empty_like(x), block, num_warps or WARPS_CUDA


def masked_prefix_sum(x: torch.Tensor, block: int | None = None, num_warps: int | None = None,
                      ordered: bool = False, persistent: bool = False, scan_early: bool = False,
                      window: int | None = None, streaming: bool = False) -> torch.Tensor:
    """The scan with explicit settings (for tests and benchmarks). `ordered`: tiles numbered by a
    global counter in the order programs start, instead of by program id. `persistent`: a grid of
    a few programs per SM, each taking tiles from the counter and loading its next tile while it
    scans the current one (a program waits only on tiles taken before its own, and takes a tile
    only while it runs, so no tile waits on one that cannot start). `scan_early`: the tile's scans
    before its look-back instead of after. `window`: earlier tiles read per look-back step (a power
    of two; by default one per thread). `streaming`: cache hints for data touched once (the input
    evicted first from the L2, the output stored with .cs), so the L2 keeps the tiles' state words."""
    x, y, block, num_warps = _setup(x, block, num_warps)
    n = x.numel()
    if n == 0:
        return y
    tiles = triton.cdiv(n, block)
    grid = _persistent_grid(x.device, tiles) if persistent else tiles
    claims = tiles + grid if persistent else tiles if ordered else 0  # the counter's advance
    state = _state_for(x.device, tiles, block, claims)
    _masked_scan_kernel[(grid,)](x, y, state.words, state.counter, n, tiles, state.base, state.epoch,
                                 BLOCK=block, WINDOW=window or 32 * num_warps, ORDERED=ordered or persistent,
                                 PERSISTENT=persistent, SCAN_EARLY=scan_early, STREAMING=streaming,
                                 num_warps=num_warps)
    state.base += claims
    state.epoch += 1
    return y


def chunked_prefix_sum(x: torch.Tensor, block: int | None = None, chunk: int = 4, num_warps: int | None = None,
                       window: int | None = None) -> torch.Tensor:
    """The scan by chunks of `chunk` tiles of `block` (_chunked_scan_kernel): the input read twice,
    the second time from the L2, one look-back per chunk. For benchmarks and tests."""
    x, y, block, num_warps = _setup(x, block, num_warps)
    n = x.numel()
    if n == 0:
        return y
    chunks = triton.cdiv(n, block * chunk)
    state = _state_for(x.device, chunks, block * chunk, 0)  # keyed by the chunk's size (a call's epoch is its own)
    _chunked_scan_kernel[(chunks,)](x, y, state.words, n, state.epoch, BLOCK=block, CHUNK=chunk,
                                    WINDOW=window or 32 * num_warps, num_warps=num_warps)
    state.epoch += 1
    return y


def configured_prefix_sum(x: torch.Tensor, block: int, num_warps: int, options: dict) -> torch.Tensor:
    """The scan as prefix_sum runs it on a GPU with BLOCK_CUDA = block, WARPS_CUDA = num_warps and
    CUDA_OPTIONS = options (what benchmarks/triton_cumsum.py times for each configuration)."""
    if "chunk" in options:
        return chunked_prefix_sum(x, block=block, num_warps=num_warps, **options)
    return masked_prefix_sum(x, block=block, num_warps=num_warps, **options)


def prefix_sum(x: torch.Tensor) -> torch.Tensor:
    if x.is_cuda:
        return configured_prefix_sum(x, BLOCK_CUDA, WARPS_CUDA, CUDA_OPTIONS)
    return masked_prefix_sum(x)
