package kcheck

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Violation kinds.
const (
	// KindDeny: a denied function (allocation, write barrier, scheduler, lock)
	// is reachable. Path ends with the denied function.
	KindDeny = "deny"
	// KindRecursion: the call graph has a cycle, so stack depth is unbounded.
	// Path runs from the entry into the cycle and ends with the function that
	// closes it, which also appears earlier in Path.
	KindRecursion = "recursion"
	// KindIndirect: an indirect call, or an indirect jump that is not a
	// recognizable switch jump table. Path ends with the function containing it.
	KindIndirect = "indirect"
	// KindUnknownTarget: a direct call or jump to an address that is not the
	// start of a function in .symtab. Path ends with the function containing it.
	KindUnknownTarget = "unknown-target"
	// KindStack: the entry needs more than StackBytes-Guard bytes. Path is the
	// deepest call chain.
	KindStack = "stack"
	// KindUnanalyzable: the checker cannot follow the function's code (an
	// undecodable instruction, a stack switch, an unbalanced stack), so the
	// depth reported for it is not a proof. Path ends with that function.
	KindUnanalyzable = "unanalyzable"
)

// Violation is one reason an entry is not safe to run in kernel context.
type Violation struct {
	Entry string   // the Entry.Symbol it was found from
	Kind  string   // one of the Kind constants
	Path  []string // functions from the entry to the offender
	// Detail says where and what, with addresses as function+offset (the form
	// go tool objdump shows).
	Detail string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s: %s: %s", v.Entry, v.Kind, strings.Join(v.Path, " -> "), v.Detail)
}

// Report is the result of Analyze.
type Report struct {
	Violations []Violation
	// MaxDepth is the stack each entry needs, in bytes below its SP at its
	// first instruction (the same measure as Entry.StackBytes). Where a
	// recursion or unanalyzable violation was found it is a lower bound.
	MaxDepth map[string]int
	// DeepestPath is the call chain that needs MaxDepth, entry first.
	DeepestPath map[string][]string
	// Functions is the number of distinct functions decoded.
	Functions int
}

// OK reports whether no violation was found.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

// String formats the report for a person: one line per entry, then one per
// violation.
func (r *Report) String() string {
	var b strings.Builder
	entries := make([]string, 0, len(r.MaxDepth))
	for e := range r.MaxDepth {
		entries = append(entries, e)
	}
	slices.Sort(entries)
	for _, e := range entries {
		fmt.Fprintf(&b, "%s: %d bytes of stack via %s\n", e, r.MaxDepth[e], strings.Join(r.DeepestPath[e], " -> "))
	}
	for _, v := range r.Violations {
		fmt.Fprintln(&b, v)
	}
	fmt.Fprintf(&b, "%d functions analyzed, %d violations\n", r.Functions, len(r.Violations))
	return b.String()
}

// Analyze checks every entry in cfg against the linked ELF at elfPath. It
// returns an error only when it cannot do the analysis at all (unreadable
// file, unknown entry, bad configuration); what it finds is in the Report.
func Analyze(elfPath string, cfg Config) (*Report, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	img, err := loadImage(elfPath)
	if err != nil {
		return nil, err
	}
	a := &analyzer{
		img:      img,
		cfg:      cfg,
		deny:     matcher(cfg.Deny),
		terminal: matcher(cfg.Terminal),
		ignore:   matcher(cfg.Ignore),
		indirect: matcher(cfg.AllowIndirect),
		frames:   map[*function]*frame{},
	}
	rep := &Report{MaxDepth: map[string]int{}, DeepestPath: map[string][]string{}}
	for _, e := range cfg.Entries {
		roots, err := img.resolve(e.Symbol)
		if err != nil {
			return nil, err
		}
		a.checkEntry(rep, e, roots)
	}
	rep.Functions = len(a.frames)
	return rep, nil
}

func validate(cfg Config) error {
	if len(cfg.Entries) == 0 {
		return errors.New("kcheck: no entries to check")
	}
	if cfg.Guard < 0 {
		return fmt.Errorf("kcheck: negative Guard %d", cfg.Guard)
	}
	seen := map[string]bool{}
	for _, e := range cfg.Entries {
		if seen[e.Symbol] {
			return fmt.Errorf("kcheck: entry %q listed twice", e.Symbol)
		}
		seen[e.Symbol] = true
		if e.StackBytes <= cfg.Guard {
			return fmt.Errorf("kcheck: entry %q: StackBytes %d leaves nothing above Guard %d", e.Symbol, e.StackBytes, cfg.Guard)
		}
	}
	return nil
}

// analyzer holds what is shared by all entries: the image, the compiled
// name lists, and the per-function frames (decoding is the expensive part,
// so each function is decoded once).
type analyzer struct {
	img                              *image
	cfg                              Config
	deny, terminal, ignore, indirect matcher
	frames                           map[*function]*frame
}

// frame returns fn's decoded frame, decoding it on first use.
func (a *analyzer) frame(fn *function) *frame {
	if f, ok := a.frames[fn]; ok {
		return f
	}
	f := analyzeFrame(a.img, fn)
	a.frames[fn] = f
	return f
}

// checkEntry walks the call graph from each root of entry e and records its
// violations, depth and deepest path in rep.
func (a *analyzer) checkEntry(rep *Report, e Entry, roots []*function) {
	w := &graphWalk{a: a, entry: e.Symbol, onStack: map[*function]bool{}, memo: map[*function]chain{}, reported: map[string]bool{}}
	var deepest chain
	for _, fn := range roots {
		if p := a.deny.match(fn.name); p != "" {
			w.report(KindDeny, []string{fn.name}, "the entry itself matches deny pattern %q", p)
			if deepest.path == nil {
				deepest.path = []string{fn.name}
			}
			continue
		}
		if c := w.visit(fn); c.depth >= deepest.depth {
			deepest = c
		}
	}
	rep.MaxDepth[e.Symbol] = deepest.depth
	rep.DeepestPath[e.Symbol] = deepest.path
	if usable := e.StackBytes - a.cfg.Guard; deepest.depth > usable {
		w.report(KindStack, deepest.path, "needs %d bytes of stack, has %d (StackBytes %d - Guard %d)",
			deepest.depth, usable, e.StackBytes, a.cfg.Guard)
	}
	rep.Violations = append(rep.Violations, w.violations...)
}

// chain is the deepest call chain below a function: its depth in bytes and the
// functions on it, starting with the function itself.
type chain struct {
	depth int
	path  []string
}

// graphWalk is a depth-first walk of the call graph from one entry. Each
// function is visited once per entry, so a violation is reported once, with
// the first path that reaches it.
type graphWalk struct {
	a          *analyzer
	entry      string
	stack      []*function // the current path from the entry
	onStack    map[*function]bool
	memo       map[*function]chain
	reported   map[string]bool
	violations []Violation
}

// visit returns the deepest chain from fn, reporting what it finds on the way.
func (w *graphWalk) visit(fn *function) chain {
	if c, ok := w.memo[fn]; ok {
		return c
	}
	w.stack = append(w.stack, fn)
	w.onStack[fn] = true
	defer func() {
		w.stack = w.stack[:len(w.stack)-1]
		w.onStack[fn] = false
	}()

	fr := w.a.frame(fn)
	for _, p := range fr.problems {
		if p.kind == KindIndirect && w.a.indirect.match(fn.name) != "" {
			continue
		}
		w.report(p.kind, w.path(), "%s: %s", fn.where(p.pc), p.detail)
	}
	best := chain{depth: fr.maxSP, path: []string{fn.name}}
	for _, c := range fr.calls {
		if sub, ok := w.call(fn, c); ok && sub.depth > best.depth {
			best = chain{depth: sub.depth, path: append([]string{fn.name}, sub.path...)}
		}
	}
	w.memo[fn] = best
	return best
}

// call follows one call site of fn and returns the chain below the call,
// with depth counted from fn's entry SP. ok is false for ignored targets.
func (w *graphWalk) call(fn *function, c callSite) (chain, bool) {
	callee := w.a.img.at(c.target)
	name := callee.name
	base, op := c.sp+8, "CALL" // CALL pushes a return address
	if c.tail {
		base, op = c.sp, "JMP"
	}
	leaf := chain{depth: base, path: []string{name}}
	if w.a.ignore.match(name) != "" {
		return chain{}, false
	}
	if p := w.a.deny.match(name); p != "" {
		// Not followed: one report at the boundary says what to fix.
		w.report(KindDeny, append(w.path(), name), "%s: %s %s (deny pattern %q)", fn.where(c.pc), op, name, p)
		return leaf, true
	}
	if w.a.terminal.match(name) != "" {
		return leaf, true
	}
	if w.onStack[callee] {
		w.report(KindRecursion, append(w.path(), name), "%s: %s %s closes a cycle: stack depth is unbounded", fn.where(c.pc), op, name)
		return leaf, true
	}
	sub := w.visit(callee)
	return chain{depth: base + sub.depth, path: sub.path}, true
}

// path returns the names on the current walk path, entry first.
func (w *graphWalk) path() []string {
	names := make([]string, len(w.stack))
	for i, fn := range w.stack {
		names[i] = fn.name
	}
	return names
}

// report records a violation unless the same one was already reported for
// this entry (another root, or the same callee from two sites).
func (w *graphWalk) report(kind string, path []string, format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	key := kind + "\x00" + path[len(path)-1] + "\x00" + detail
	if kind == KindDeny || kind == KindRecursion {
		// One report per caller and callee, not per call site.
		key = kind + "\x00" + strings.Join(path[max(0, len(path)-2):], "\x00")
	}
	if w.reported[key] {
		return
	}
	w.reported[key] = true
	w.violations = append(w.violations, Violation{Entry: w.entry, Kind: kind, Path: path, Detail: detail})
}
