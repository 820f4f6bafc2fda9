package main

import (
	"cmp"
	"debug/elf"
	"fmt"
	"io"
	"slices"
	"strings"
)

// symtab names code addresses: the functions of an ELF's symbol table.
type symtab struct {
	funcs []elf.Symbol // by address
}

func loadSymbols(path string) (*symtab, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%s: %w (a stripped binary has no names)", path, err)
	}
	t := &symtab{}
	for _, s := range all {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
			t.funcs = append(t.funcs, s)
		}
	}
	slices.SortFunc(t.funcs, func(a, b elf.Symbol) int { return cmp.Compare(a.Value, b.Value) })
	return t, nil
}

// name is the function holding pc, or pc in hex.
func (t *symtab) name(pc uint64) string {
	i, found := slices.BinarySearchFunc(t.funcs, pc, func(s elf.Symbol, pc uint64) int {
		if pc < s.Value {
			return 1
		}
		if s.Size != 0 && pc >= s.Value+s.Size {
			return -1
		}
		return 0
	})
	if found {
		return t.funcs[i].Name
	}
	return fmt.Sprintf("%#x", pc)
}

// report prints two tables: the function each sample stopped in, and the
// same with its callers (chain functions in all).
func report(w io.Writer, stacks [][]uint64, t *symtab, top, chain int) {
	flat := map[string]int{}
	calls := map[string]int{}
	for _, st := range stacks {
		names := make([]string, 0, chain)
		for i, pc := range st {
			if i == chain {
				break
			}
			if i > 0 {
				pc-- // a return address: the call is the instruction before it
			}
			names = append(names, short(t.name(pc)))
		}
		flat[names[0]]++
		calls[strings.Join(names, " <- ")]++
	}
	for _, tab := range []struct {
		title string
		m     map[string]int
	}{{"where the CPU was", flat}, {"with its callers", calls}} {
		fmt.Fprintf(w, "\n%s:\n", tab.title)
		keys := make([]string, 0, len(tab.m))
		for k := range tab.m {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			return cmp.Or(cmp.Compare(tab.m[b], tab.m[a]), strings.Compare(a, b))
		})
		for _, k := range keys[:min(top, len(keys))] {
			fmt.Fprintf(w, "%7d %5.1f%%  %s\n", tab.m[k], 100*float64(tab.m[k])/float64(len(stacks)), k)
		}
	}
}

// short drops this module's path from a function name.
func short(name string) string {
	return strings.TrimPrefix(name, "github.com/unigo-dev/unigo/")
}
