/*
 * mesh_api.cpp - the C API of the mesh RTL (include/loom/rtl_mesh.h): picks
 * the built model for a size and flavour, drives the clock and reset, feeds
 * each node's injection stream from its software source queue, reassembles
 * the ejection streams into messages and matches them with what was sent.
 *
 * Not the mesh: routing, flow control, packetization and reassembly into
 * flits are the RTL's.  This file only moves message beats across the top
 * ports (mesh_top.sv documents them) and keeps cycle stamps.
 *
 * Per cycle: outputs (inj_ready, ej_valid, ...) are registered in the RTL,
 * so they are read before the clock edge; a beat offered on inj_* while
 * inj_ready is high is taken at that edge, an ej_* beat is always taken
 * (ej_ready is tied high: the host never back-pressures).
 */
#include "loom/rtl_mesh.h"
#include "loom/err.h"

#include "mesh_model.h"

#include <deque>
#include <new>
#include <string.h>
#include <string>
#include <unordered_map>
#include <vector>

#define RTL_MODEL(c, f) extern "C" const struct mesh_model_ops mesh_model_##c##_##f;
#ifdef RTL_MODELS
RTL_MODELS
#endif
#undef RTL_MODEL

#define RTL_MODEL(c, f) &mesh_model_##c##_##f,
static const struct mesh_model_ops *const mesh_models[] = {
#ifdef RTL_MODELS
	RTL_MODELS
#endif
	nullptr
};
#undef RTL_MODEL

namespace {

enum { MSG_MAX_BYTES = 65535, DEFAULT_MAX_QUEUED = 4096 };

struct pending {
	int dst;
	uint16_t id;
	std::vector<uint8_t> bytes;
	uint64_t inject_cycle;
};

/* Cycle stamps of a message between header acceptance and delivery. */
struct stamps {
	uint64_t inject_cycle, accept_cycle;
};

struct node {
	std::deque<pending> srcq;
	size_t beat;			/* next beat of srcq.front() (0 = header) */
	bool rx_busy;			/* a message is being reassembled */
	rtl_mesh_msg rx;
	std::vector<uint8_t> rx_bytes;
	size_t rx_pos;
	std::deque<std::pair<rtl_mesh_msg, std::vector<uint8_t>>> done;
	std::vector<uint8_t> polled;	/* payload of the message last polled */
};

} // namespace

struct rtl_mesh {
	const mesh_model_ops *ops;
	void *inst;
	mesh_ports io;
	int n, k;
	size_t beat_bytes;
	unsigned max_queued;
	rtl_mesh_routing routing;
	uint64_t cycle;
	bool broken;
	rtl_mesh_stats stats;
	std::vector<node> nodes;
	/* in flight, keyed by (src, dst, id); same-key messages in send order */
	std::unordered_map<uint64_t, std::deque<stamps>> flight;
};

/* ---- port bit access (little-endian storage, see mesh_model.h) ----------- */

static inline bool bit_get(const mesh_port &p, size_t i)
{
	return (p.p[i / 8] >> (i % 8)) & 1;
}

static inline void bit_put(const mesh_port &p, size_t i, bool v)
{
	uint8_t m = (uint8_t)(1u << (i % 8));
	p.p[i / 8] = v ? (uint8_t)(p.p[i / 8] | m) : (uint8_t)(p.p[i / 8] & ~m);
}

static void port_put_u32(const mesh_port &p, uint32_t v)
{
	memset(p.p, 0, p.bytes);
	memcpy(p.p, &v, p.bytes < 4 ? p.bytes : 4);
}

static uint32_t port_get_u32(const mesh_port &p)
{
	uint32_t v = 0;
	memcpy(&v, p.p, p.bytes < 4 ? p.bytes : 4);
	return v;
}

/* ---- header beat layout (mesh_ni.sv) --------------------------------------- */

static int coord_bits(int n)
{
	int b = 0;
	while ((1 << b) < n)
		b++;
	return b ? b : 1;
}

struct header {
	uint32_t len, id, dst, src;	/* dst/src as node numbers */
};

static void header_pack(const rtl_mesh *m, uint8_t *beat, const header &h)
{
	int xw = coord_bits(m->k), yw = coord_bits(m->n / m->k);
	uint64_t w = h.len | (uint64_t)h.id << 16;
	w |= (uint64_t)(h.dst % m->k) << 32 | (uint64_t)(h.dst / m->k) << (32 + xw);
	memset(beat, 0, m->beat_bytes);
	memcpy(beat, &w, 8);
	(void)yw;
}

static header header_unpack(const rtl_mesh *m, const uint8_t *beat)
{
	int xw = coord_bits(m->k), yw = coord_bits(m->n / m->k);
	uint64_t w;
	memcpy(&w, beat, 8);
	header h;
	h.len = (uint32_t)(w & 0xffff);
	h.id = (uint32_t)(w >> 16 & 0xffff);
	int s = 32;
	uint32_t dx = (uint32_t)(w >> s & ((1u << xw) - 1)), dy = (uint32_t)(w >> (s + xw) & ((1u << yw) - 1));
	s += xw + yw;
	uint32_t sx = (uint32_t)(w >> s & ((1u << xw) - 1)), sy = (uint32_t)(w >> (s + xw) & ((1u << yw) - 1));
	h.dst = dy * (uint32_t)m->k + dx;
	h.src = sy * (uint32_t)m->k + sx;
	return h;
}

static uint64_t flight_key(int src, int dst, uint16_t id)
{
	return ((uint64_t)(uint32_t)src << 40) | ((uint64_t)(uint32_t)dst << 16) | id;
}

/* ---- one clock cycle ------------------------------------------------------- */

static void clock_edge(rtl_mesh *m, bool *err)
{
	*m->io.clk.p = 1;
	if (m->ops->eval(m->inst))
		*err = true;
	*m->io.clk.p = 0;
	if (m->ops->eval(m->inst))
		*err = true;
}

static void rx_finish(rtl_mesh *m, int at, node &nd)
{
	rtl_mesh_msg &msg = nd.rx;
	msg.deliver_cycle = m->cycle;
	if (nd.rx_pos != msg.len_bytes)
		m->stats.bad_length++;
	if (msg.dst != at)
		m->stats.misrouted++;
	auto it = m->flight.find(flight_key(msg.src, msg.dst, msg.id));
	if (it == m->flight.end() || it->second.empty()) {
		msg.unmatched = 1;
		m->stats.unmatched++;
	} else {
		msg.inject_cycle = it->second.front().inject_cycle;
		msg.accept_cycle = it->second.front().accept_cycle;
		it->second.pop_front();
		if (it->second.empty())
			m->flight.erase(it);
		m->stats.in_flight--;
	}
	m->stats.delivered++;
	nd.done.emplace_back(msg, std::move(nd.rx_bytes));
	nd.rx_bytes = std::vector<uint8_t>();
	nd.rx_busy = false;
}

/* Take node i's ejection beat (ej_valid is high). */
static void rx_beat(rtl_mesh *m, int i)
{
	node &nd = m->nodes[i];
	const uint8_t *beat = m->io.ej_data.p + (size_t)i * m->beat_bytes;
	bool last = bit_get(m->io.ej_last, (size_t)i);
	if (!nd.rx_busy) {
		header h = header_unpack(m, beat);
		nd.rx = rtl_mesh_msg{};
		nd.rx.src = (int)h.src;
		nd.rx.dst = (int)h.dst;
		nd.rx.id = (uint16_t)h.id;
		nd.rx.len_bytes = h.len;
		nd.rx_bytes.assign(h.len, 0);
		nd.rx_pos = 0;
		nd.rx_busy = true;
	} else {
		size_t n = nd.rx.len_bytes - nd.rx_pos;
		if (n > m->beat_bytes)
			n = m->beat_bytes;
		memcpy(nd.rx_bytes.data() + nd.rx_pos, beat, n);
		nd.rx_pos += n;
		if (n == 0)
			m->stats.bad_length++;	/* more beats than the header said */
	}
	if (last)
		rx_finish(m, i, nd);
}

/* Offer node i's next beat; `taken`: the NI is ready, so it goes this edge. */
static void tx_beat(rtl_mesh *m, int i, bool taken)
{
	node &nd = m->nodes[i];
	pending &p = nd.srcq.front();
	uint8_t *beat = m->io.inj_data.p + (size_t)i * m->beat_bytes;
	if (nd.beat == 0) {
		header_pack(m, beat, header{ (uint32_t)p.bytes.size(), p.id, (uint32_t)p.dst, 0 });
	} else {
		size_t off = (nd.beat - 1) * m->beat_bytes, n = p.bytes.size() - off;
		memset(beat, 0, m->beat_bytes);
		memcpy(beat, p.bytes.data() + off, n < m->beat_bytes ? n : m->beat_bytes);
	}
	bit_put(m->io.inj_valid, (size_t)i, true);
	if (!taken)
		return;
	if (nd.beat == 0) {
		m->flight[flight_key(i, p.dst, p.id)].push_back(stamps{ p.inject_cycle, m->cycle });
		m->stats.accepted++;
		m->stats.in_flight++;
	}
	size_t beats = 1 + (p.bytes.size() + m->beat_bytes - 1) / m->beat_bytes;
	if (++nd.beat == beats) {
		nd.srcq.pop_front();
		nd.beat = 0;
	}
}

static void cycle_once(rtl_mesh *m, bool *err)
{
	for (int i = 0; i < m->n; i++) {
		if (bit_get(m->io.ej_valid, (size_t)i))
			rx_beat(m, i);
		if (m->nodes[i].srcq.empty())
			bit_put(m->io.inj_valid, (size_t)i, false);
		else
			tx_beat(m, i, bit_get(m->io.inj_ready, (size_t)i));
	}
	clock_edge(m, err);
	m->cycle++;
}

/* ---- API ------------------------------------------------------------------ */

extern "C" const char *rtl_mesh_built_configs(void)
{
	static std::string s;
	if (s.empty()) {
		for (const mesh_model_ops *const *o = mesh_models; *o; o++)
			if (s.find((*o)->config) == std::string::npos)
				s += (s.empty() ? "" : " ") + std::string((*o)->config);
		if (s.empty())
			s = "(none)";
	}
	return s.c_str();
}

static const mesh_model_ops *model_find(int k, int l, rtl_mesh_flavour f)
{
	const char *fl = f == RTL_MESH_FAST ? "fast" : "checked";
	for (const mesh_model_ops *const *o = mesh_models; *o; o++)
		if ((*o)->k == k && (*o)->l == l && !strcmp((*o)->flavour, fl))
			return *o;
	return nullptr;
}

/* An enum field as the int a C caller stored: C allows any int there, and
 * loading an out-of-range value as the C++ enum type is undefined. */
template <typename E> static int enum_raw(const E *e)
{
	static_assert(sizeof(E) == sizeof(int), "C enums are int-sized here");
	int v;
	memcpy(&v, e, sizeof(v));
	return v;
}

static int params_check(const rtl_mesh_params *p)
{
	int fl = enum_raw(&p->flavour), rt = enum_raw(&p->routing);

	if (p->k < 0 || p->l < 0 || (p->k == 0) != (p->l == 0))
		return loom_err_set(EINVAL, "rtl_mesh: bad mesh size %dx%d", p->k, p->l);
	if (fl != RTL_MESH_CHECKED && fl != RTL_MESH_FAST)
		return loom_err_set(EINVAL, "rtl_mesh: unknown flavour %d", fl);
	if (rt != RTL_MESH_XY && rt != RTL_MESH_WEST_FIRST)
		return loom_err_set(EINVAL, "rtl_mesh: unknown routing %d", rt);
	return 0;
}

extern "C" struct rtl_mesh *rtl_mesh_create(const struct rtl_mesh_params *params)
{
	rtl_mesh_params p{};
	if (params)
		p = *params;
	if (params_check(&p))
		return nullptr;
	if (!p.k)
		p.k = p.l = 4;
	const mesh_model_ops *ops = model_find(p.k, p.l, p.flavour);
	if (!ops) {
		loom_err_set(ENOENT, "rtl_mesh: mesh %dx%d is not built (built: %s): make RTL_MESH_CONFIGS='%s %dx%d'",
			     p.k, p.l, rtl_mesh_built_configs(), rtl_mesh_built_configs(), p.k, p.l);
		return nullptr;
	}
	rtl_mesh *m = new (std::nothrow) rtl_mesh();
	if (!m) {
		loom_err_set(ENOMEM, "rtl_mesh: out of memory");
		return nullptr;
	}
	char err[256] = "";
	m->inst = ops->create(p.trace_path, err, sizeof(err));
	if (!m->inst) {
		loom_err_set(EIO, "rtl_mesh: %s", err);
		delete m;
		return nullptr;
	}
	m->ops = ops;
	ops->ports(m->inst, &m->io);
	m->k = ops->k;
	m->n = ops->k * ops->l;
	m->beat_bytes = (size_t)ops->flit_bits / 8;
	m->max_queued = p.max_queued ? p.max_queued : (unsigned)DEFAULT_MAX_QUEUED;
	m->routing = p.routing;
	try {
		m->nodes.resize((size_t)m->n);
	} catch (const std::bad_alloc &) {
		ops->destroy(m->inst);
		delete m;
		loom_err_set(ENOMEM, "rtl_mesh: out of memory");
		return nullptr;
	}
	rtl_mesh_reset(m);
	return m;
}

extern "C" void rtl_mesh_destroy(struct rtl_mesh *m)
{
	if (!m)
		return;
	m->ops->destroy(m->inst);
	delete m;
}

extern "C" int rtl_mesh_get_info(const struct rtl_mesh *m, struct rtl_mesh_info *out)
{
	if (!m || !out)
		return loom_err_set(EINVAL, "rtl_mesh_get_info: NULL argument");
	const mesh_model_ops *o = m->ops;
	*out = rtl_mesh_info{ o->k, o->l, o->k * o->l, o->vcs, o->flit_bits, o->buf_depth,
			      o->inj_depth, o->router_stages, o->link_stages, o->flavour };
	return 0;
}

extern "C" int rtl_mesh_reset(struct rtl_mesh *m)
{
	if (!m)
		return loom_err_set(EINVAL, "rtl_mesh_reset: NULL mesh");
	bool err = false;
	memset(m->io.inj_valid.p, 0, m->io.inj_valid.bytes);
	memset(m->io.ej_ready.p, 0xff, m->io.ej_ready.bytes);
	*m->io.routing.p = (uint8_t)m->routing;
	*m->io.clk.p = 0;
	*m->io.rst_n.p = 0;
	m->ops->eval(m->inst);
	for (int i = 0; i < 2; i++)
		clock_edge(m, &err);
	*m->io.rst_n.p = 1;
	m->ops->eval(m->inst);
	m->cycle = 0;
	m->broken = false;
	m->stats = rtl_mesh_stats{};
	m->flight.clear();
	for (node &nd : m->nodes)
		nd = node{};
	return 0;
}

extern "C" int rtl_mesh_set_routing(struct rtl_mesh *m, enum rtl_mesh_routing routing)
{
	int rt = enum_raw(&routing);

	if (!m || (rt != RTL_MESH_XY && rt != RTL_MESH_WEST_FIRST))
		return loom_err_set(EINVAL, "rtl_mesh_set_routing: bad argument");
	m->routing = routing;
	*m->io.routing.p = (uint8_t)routing;
	return 0;
}

extern "C" int rtl_mesh_step(struct rtl_mesh *m, uint64_t cycles)
{
	if (!m)
		return loom_err_set(EINVAL, "rtl_mesh_step: NULL mesh");
	if (m->broken)
		return loom_err_set(EIO, "rtl_mesh: an assertion failed earlier; reset the mesh");
	bool err = false;
	try {
		for (uint64_t c = 0; c < cycles && !err; c++)
			cycle_once(m, &err);
	} catch (const std::bad_alloc &) {
		m->broken = true;
		return loom_err_set(ENOMEM, "rtl_mesh: out of memory at cycle %llu",
				    (unsigned long long)m->cycle);
	}
	if (err) {
		m->broken = true;
		return loom_err_set(EIO, "rtl_mesh: %s model assertion failed at cycle %llu (message above)",
				    m->ops->flavour, (unsigned long long)m->cycle);
	}
	return 0;
}

extern "C" uint64_t rtl_mesh_cycles(const struct rtl_mesh *m)
{
	return m ? m->cycle : 0;
}

extern "C" int rtl_mesh_inject(struct rtl_mesh *m, int src, int dst, uint16_t id, const void *payload,
			       size_t len_bytes)
{
	if (!m)
		return loom_err_set(EINVAL, "rtl_mesh_inject: NULL mesh");
	if (src < 0 || src >= m->n || dst < 0 || dst >= m->n)
		return loom_err_set(EINVAL, "rtl_mesh_inject: node %d -> %d outside 0..%d", src, dst,
				    m->n - 1);
	if (len_bytes > MSG_MAX_BYTES || (len_bytes && !payload))
		return loom_err_set(EINVAL, "rtl_mesh_inject: %zu bytes (at most %d, payload %s)", len_bytes,
				    MSG_MAX_BYTES, payload ? "given" : "NULL");
	node &nd = m->nodes[(size_t)src];
	if (nd.srcq.size() >= m->max_queued)
		return loom_err_set(EAGAIN, "rtl_mesh_inject: node %d source queue full (%u messages)", src,
				    m->max_queued);
	try {
		const uint8_t *b = static_cast<const uint8_t *>(payload);
		nd.srcq.push_back(pending{ dst, id, std::vector<uint8_t>(b, b + len_bytes), m->cycle });
	} catch (const std::bad_alloc &) {
		return loom_err_set(ENOMEM, "rtl_mesh_inject: out of memory");
	}
	m->stats.injected++;
	return 0;
}

extern "C" size_t rtl_mesh_queued(const struct rtl_mesh *m, int node)
{
	if (!m || node < 0 || node >= m->n)
		return 0;
	return m->nodes[(size_t)node].srcq.size();
}

extern "C" int rtl_mesh_poll(struct rtl_mesh *m, int node_id, struct rtl_mesh_msg *out)
{
	if (!m || !out || node_id < 0 || node_id >= m->n)
		return loom_err_set(EINVAL, "rtl_mesh_poll: bad argument (node %d)", node_id);
	node &nd = m->nodes[(size_t)node_id];
	if (nd.done.empty())
		return 0;
	nd.polled = std::move(nd.done.front().second);
	*out = nd.done.front().first;
	out->payload = nd.polled.data();
	nd.done.pop_front();
	return 1;
}

extern "C" int rtl_mesh_get_stats(const struct rtl_mesh *m, struct rtl_mesh_stats *out)
{
	if (!m || !out)
		return loom_err_set(EINVAL, "rtl_mesh_get_stats: NULL argument");
	*out = m->stats;
	return 0;
}

extern "C" int rtl_mesh_counter(struct rtl_mesh *m, int node_id, int counter, uint32_t *out)
{
	if (!m || !out || node_id < 0 || node_id >= m->n || counter < 0 || counter >= RTL_MESH_CNT_NUM)
		return loom_err_set(EINVAL, "rtl_mesh_counter: bad argument (node %d, counter %d)", node_id,
				    counter);
	port_put_u32(m->io.cnt_node, (uint32_t)node_id);
	port_put_u32(m->io.cnt_sel, (uint32_t)counter);
	m->ops->eval_comb(m->inst);
	*out = port_get_u32(m->io.cnt);
	return 0;
}

/* ---- traffic patterns ------------------------------------------------------ */

static const char *const pattern_names[RTL_MESH_PATTERN_NUM] = {
	"uniform", "transpose", "bitcomp", "hotspot", "alltoall",
};

extern "C" int rtl_mesh_pattern_dst(enum rtl_mesh_pattern p, int k, int l, int src, uint64_t seq,
				    uint64_t rnd)
{
	if (k <= 0 || l <= 0 || src < 0 || src >= k * l)
		return loom_err_set(EINVAL, "rtl_mesh_pattern_dst: node %d of a %dx%d mesh", src, k, l);
	int n = k * l, x = src % k, y = src / k;
	switch (p) {
	case RTL_MESH_UNIFORM:
		return (int)(rnd % (uint64_t)n);
	case RTL_MESH_TRANSPOSE:
		if (k != l)
			return loom_err_set(EINVAL, "rtl_mesh_pattern_dst: transpose needs a square mesh, not %dx%d",
					    k, l);
		return x * k + y;
	case RTL_MESH_BITCOMP:
		return n - 1 - src;
	case RTL_MESH_HOTSPOT:
		if (rnd % 4 == 0)
			return (l / 2) * k + k / 2;
		return (int)((rnd / 4) % (uint64_t)n);
	case RTL_MESH_ALLTOALL:
		return n == 1 ? 0 : (int)((src + 1 + seq % (uint64_t)(n - 1)) % (uint64_t)n);
	default:
		return loom_err_set(EINVAL, "rtl_mesh_pattern_dst: unknown pattern %d", (int)p);
	}
}

extern "C" const char *rtl_mesh_pattern_name(enum rtl_mesh_pattern p)
{
	return (unsigned)p < RTL_MESH_PATTERN_NUM ? pattern_names[p] : "?";
}

extern "C" int rtl_mesh_pattern_parse(const char *name)
{
	for (int i = 0; name && i < RTL_MESH_PATTERN_NUM; i++)
		if (!strcmp(name, pattern_names[i]))
			return i;
	return loom_err_set(EINVAL, "rtl_mesh: unknown pattern '%s' (uniform, transpose, bitcomp, hotspot, alltoall)",
			    name ? name : "(null)");
}
