package loadgen

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cpuWatch reports how much CPU the processes of the system under test used in a phase
// (Linux's /proc; elsewhere it reports nothing): the processes named with -cpu, the
// database's Postgres backends, this process, and the whole machine.
type cpuWatch struct {
	named    map[string]int
	database string
}

// userHZ is the unit of /proc's CPU times: 100 on every Linux architecture's user ABI.
const userHZ = 100

type cpuSnapshot struct {
	at    time.Time
	procs map[string]time.Duration // name → CPU time
	pg    map[int]time.Duration    // backend pid → CPU time
	busy  time.Duration            // the machine's, all cores
}

func (w cpuWatch) snapshot() cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), procs: map[string]time.Duration{}, pg: map[int]time.Duration{}}
	for name, pid := range w.named {
		if t, ok := procCPU(strconv.Itoa(pid)); ok {
			s.procs[name] = t
		}
	}
	if t, ok := procCPU("self"); ok {
		s.procs["loadgen"] = t
	}
	if w.database != "" {
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		needle := []byte(" " + w.database + " ")
		for _, d := range dirs {
			cmd, err := os.ReadFile(d + "/cmdline")
			if err != nil || !strings.HasPrefix(string(cmd), "postgres: ") || !strings.Contains(string(cmd), string(needle)) {
				continue
			}
			pid, _ := strconv.Atoi(filepath.Base(d))
			if t, ok := procCPU(filepath.Base(d)); ok {
				s.pg[pid] = t
			}
		}
	}
	s.busy = machineBusy()
	return s
}

// CPUUse is the cores each process used on average over a phase.
type CPUUse struct {
	Phase string
	Cores map[string]float64 // name → cores; "postgres (db)" and "machine" included
	Wall  time.Duration
}

// merge averages two spans of the same measurement, weighted by their wall time.
func (u CPUUse) merge(v CPUUse) CPUUse {
	if u.Wall <= 0 {
		return v
	}
	out := CPUUse{Phase: v.Phase, Cores: map[string]float64{}, Wall: u.Wall + v.Wall}
	for n, c := range v.Cores {
		out.Cores[n] = (u.Cores[n]*u.Wall.Seconds() + c*v.Wall.Seconds()) / out.Wall.Seconds()
	}
	return out
}

func (w cpuWatch) since(phaseName string, before cpuSnapshot) CPUUse {
	after := w.snapshot()
	wall := after.at.Sub(before.at).Seconds()
	u := CPUUse{Phase: phaseName, Cores: map[string]float64{}, Wall: after.at.Sub(before.at)}
	if wall <= 0 {
		return u
	}
	for name, t := range after.procs {
		if b, ok := before.procs[name]; ok {
			u.Cores[name] = (t - b).Seconds() / wall
		}
	}
	if len(after.pg) > 0 {
		var pg time.Duration
		for pid, t := range after.pg {
			pg += t - before.pg[pid] // a backend opened during the phase counts from zero
		}
		u.Cores["postgres (db)"] = pg.Seconds() / wall
	}
	if after.busy > 0 {
		u.Cores["machine"] = (after.busy - before.busy).Seconds() / wall
	}
	return u
}

// procCPU is a process's user + system CPU time from /proc/<pid>/stat.
func procCPU(pid string) (time.Duration, bool) {
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may hold spaces: fields count from its end.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return ticks(utime + stime), true
}

// machineBusy is the CPU time every core spent on anything but idling, from /proc/stat.
func machineBusy() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 || i >= 7 { // idle, iowait, steal; guest time is already in user
			continue
		}
		busy += n
	}
	return ticks(busy)
}

func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / userHZ }

func writeCPU(w io.Writer, uses []CPUUse) {
	var names []string
	for _, u := range uses {
		for n := range u.Cores {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	// The processes in name order, the machine last.
	slices.SortFunc(names, func(a, b string) int {
		if (a == "machine") != (b == "machine") {
			if a == "machine" {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	if len(names) == 0 {
		return
	}
	header := append([]string{"CPU cores used"}, names...)
	if slices.Contains(names, "machine") {
		header = append(header, "others (machine − these)")
	}
	var rows [][]string
	for _, u := range uses {
		r := []string{u.Phase}
		for _, n := range names {
			if c, ok := u.Cores[n]; ok {
				r = append(r, fmt.Sprintf("%.2f", c))
			} else {
				r = append(r, "–")
			}
		}
		if m, ok := u.Cores["machine"]; ok {
			r = append(r, fmt.Sprintf("%.2f", max(0, m-ours(u))))
		}
		rows = append(rows, r)
	}
	table(w, header, rows)
}

// ours is the cores the watched processes used, the machine's total left out.
func ours(u CPUUse) float64 {
	var sum float64
	for n, c := range u.Cores {
		if n != "machine" {
			sum += c
		}
	}
	return sum
}
