/*
 * opts.c - provider options: "key=value" lists from tp_device_open's opts
 * argument and the LOOM_TP_OPTS environment variable ("k=v,k=v"), checked
 * against the provider's table of keys (struct tp_opt_spec).
 *
 * A key may be scoped to one provider as "prov:key=value"; scoped keys of
 * other providers are skipped, so one LOOM_TP_OPTS can serve several.  An
 * unknown key, a missing '=', or a value of the wrong type or out of range
 * is -EINVAL; nothing is ignored silently.  Stateless and reentrant.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loom/err.h"
#include "provider.h"

static const struct tp_opt_spec *spec_find(const struct tp_opt_spec *spec, const char *key)
{
	for (; spec && spec->key; spec++)
		if (strcmp(spec->key, key) == 0)
			return spec;
	return NULL;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *out = true, true;
		if (strcasecmp(s, no[i]) == 0)
			return *out = false, true;
	}
	return false;
}

/* Type and range of val for spec; 0 or -EINVAL. */
static int check_value(const char *prov, const struct tp_opt_spec *spec, const char *val)
{
	char *end;
	bool b;

	switch (spec->type) {
	case TP_OPT_U64: {
		unsigned long long v;

		errno = 0;
		v = strtoull(val, &end, 0);
		if (!*val || *end || errno || val[0] == '-' || (double)v < spec->min ||
		    (double)v > spec->max)
			return loom_err_set(EINVAL, "%s: option %s=%s: want an integer in "
					    "[%.0f, %.0f]", prov, spec->key, val, spec->min,
					    spec->max);
		return 0;
	}
	case TP_OPT_F64: {
		double v = strtod(val, &end);

		if (!*val || *end || !isfinite(v) || v < spec->min || v > spec->max)
			return loom_err_set(EINVAL, "%s: option %s=%s: want a number in [%g, %g]",
					    prov, spec->key, val, spec->min, spec->max);
		return 0;
	}
	case TP_OPT_BOOL:
		if (!parse_bool(val, &b))
			return loom_err_set(EINVAL, "%s: option %s=%s: want 0/1/true/false",
					    prov, spec->key, val);
		return 0;
	case TP_OPT_STR:
		return 0;
	}
	return loom_err_set(EINVAL, "%s: option %s: bad spec type", prov, spec->key);
}

/* Store key=val (replacing an earlier value of key). */
static int opts_put(struct tp_opts *o, const char *prov, const char *key, const char *val)
{
	int i;

	for (i = 0; i < o->n; i++)
		if (strcmp(o->kv[i].key, key) == 0)
			break;
	if (i == o->n && o->n == TP_OPTS_MAX)
		return loom_err_set(EINVAL, "%s: more than %d options", prov, TP_OPTS_MAX);
	if (strlen(val) >= TP_OPT_VAL_MAX)
		return loom_err_set(EINVAL, "%s: option %s: value longer than %d bytes", prov, key,
				    TP_OPT_VAL_MAX - 1);
	strcpy(o->kv[i].key, key);
	strcpy(o->kv[i].val, val);
	if (i == o->n)
		o->n++;
	return 0;
}

/* One "[prov:]key=value" item of length len (not NUL-terminated). */
static int parse_item(const struct tp_provider_ops *ops, const char *item, size_t len,
		      const char *from, struct tp_opts *o)
{
	char buf[TP_OPT_KEY_MAX + TP_OPT_VAL_MAX + TP_NAME_MAX];
	const struct tp_opt_spec *spec;
	char *key = buf, *eq, *colon;

	if (len >= sizeof(buf))
		return loom_err_set(EINVAL, "%s: option too long in %s", ops->name, from);
	memcpy(buf, item, len);
	buf[len] = '\0';
	eq = strchr(buf, '=');
	if (!eq || eq == buf)
		return loom_err_set(EINVAL, "%s: option '%s' in %s is not key=value", ops->name,
				    buf, from);
	*eq = '\0';
	colon = strchr(buf, ':');
	if (colon) {
		*colon = '\0';
		if (strcmp(buf, ops->name) != 0)
			return 0; /* another provider's option */
		key = colon + 1;
	}
	spec = spec_find(ops->opts, key);
	if (!spec)
		return loom_err_set(EINVAL, "%s: unknown option '%s' in %s", ops->name, key, from);
	if (check_value(ops->name, spec, eq + 1) < 0)
		return -EINVAL;
	return opts_put(o, ops->name, key, eq + 1);
}

int tp_opts_parse(const struct tp_provider_ops *ops, const char *const *list, const char *env,
		  struct tp_opts *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; list && list[i]; i++)
		if (parse_item(ops, list[i], strlen(list[i]), "opts", out) < 0)
			return -EINVAL;
	while (env && *env) {
		size_t len = strcspn(env, ",");
		const char *item = env;

		env += len;
		if (*env == ',')
			env++;
		while (len && isspace((unsigned char)*item))
			item++, len--;
		while (len && isspace((unsigned char)item[len - 1]))
			len--;
		if (len && parse_item(ops, item, len, "LOOM_TP_OPTS", out) < 0)
			return -EINVAL;
	}
	return 0;
}

static const char *opts_get(const struct tp_opts *o, const char *key)
{
	for (int i = 0; o && i < o->n; i++)
		if (strcmp(o->kv[i].key, key) == 0)
			return o->kv[i].val;
	return NULL;
}

uint64_t tp_opts_u64(const struct tp_opts *o, const char *key, uint64_t def)
{
	const char *v = opts_get(o, key);

	return v ? strtoull(v, NULL, 0) : def;
}

double tp_opts_f64(const struct tp_opts *o, const char *key, double def)
{
	const char *v = opts_get(o, key);

	return v ? strtod(v, NULL) : def;
}

bool tp_opts_bool(const struct tp_opts *o, const char *key, bool def)
{
	const char *v = opts_get(o, key);
	bool b = def;

	if (v)
		parse_bool(v, &b);
	return b;
}

const char *tp_opts_str(const struct tp_opts *o, const char *key, const char *def)
{
	const char *v = opts_get(o, key);

	return v ? v : def;
}
