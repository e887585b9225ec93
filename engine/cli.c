/*
 * cli.c — the command line every Rill binary shares (rill_cli_parse()).
 *
 * DESIGN: parsing is two steps. The first walks argv once, recognising Rill's flags and
 * collecting what they ask for (a list of "set this property" and "load this file" actions,
 * plus --describe/--help), and compacts the tokens it does not recognise to the front of
 * argv for the program when allow_extra is set. The second applies the actions: config files
 * first, then flags and -D properties in the order given, so a flag always overrides the
 * file whatever their order on the line. Nothing is applied when the first step finds an
 * error. Value flags take their value as the next token or after '=' (--threads=4); -D takes
 * "name=value" as the next token or joined (-Dname=value). "--" ends Rill's flags: it and
 * what follows are left for the program (or are an error without allow_extra).
 */
#include "conf_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a recognised token asks for. */
typedef enum cli_op_kind_e {
    CLI_OP_SET,    /* set property name to value */
    CLI_OP_CONFIG, /* load the properties file value */
} rill__cli_op_kind_t;

typedef struct cli_op_s {
    rill__cli_op_kind_t kind;
    const char *flag;  /* as written, for messages */
    const char *name;  /* CLI_OP_SET: property name (may point into dname) */
    const char *value; /* borrowed from argv */
    char dname[256];   /* -D: the name part, copied out of "name=value" */
} rill__cli_op_t;

/* The flags that take a value and the property each sets (NULL: handled apart). */
static const struct {
    const char *flag;
    const char *property;
    const char *arg;
    const char *help;
} cli_value_flags[] = {
    {"--bootstrap-servers", "bootstrap.servers", "HOST:PORT,...",
     "Kafka brokers (default: the embedded broker)"},
    {"--config", NULL, "FILE", "read name=value properties from FILE (flags override it)"},
    {"--threads", "num.stream.threads", "N", "number of stream threads"},
    {"--state-dir", "state.dir", "DIR",
     "directory of the local state stores (default: ${TMPDIR:-/tmp}/rill-state-<uid>)"},
    {"--instance-id", "group.instance.id", "ID", "static group membership id"},
    {"--describe-dot", NULL, "FILE", "with --describe, also write the topology as DOT to FILE"},
};

#define CLI_VALUE_FLAG_CNT (sizeof(cli_value_flags) / sizeof(cli_value_flags[0]))

/* The state of one parse. */
typedef struct cli_parse_s {
    int argc;
    char **argv;
    char **kept_argv; /* the tokens left for the program, argv[0] first */
    int kept;
    int allow_extra;
    rill__cli_op_t *ops;
    size_t op_cnt;
    int describe;
    int help;
    const char *dot_path;
    char *errstr;
    size_t errstr_size;
} rill__cli_parse_t;

/* ---------------------------------------------------------------------------------------- */
/* Help and describe                                                                        */

static void cli_usage(FILE *out, const char *prog) {
    size_t i;
    char left[64];

    fprintf(out, "Usage: %s [options]\n\nOptions:\n", prog ? prog : "rill-app");
    for (i = 0; i < CLI_VALUE_FLAG_CNT; i++) {
        snprintf(left, sizeof(left), "%s %s", cli_value_flags[i].flag, cli_value_flags[i].arg);
        fprintf(out, "  %-34s %s\n", left, cli_value_flags[i].help);
    }
    fprintf(out, "  %-34s %s\n", "-D name=value", "set any property (Rill's or librdkafka's)");
    fprintf(out, "  %-34s %s\n", "--describe", "print the topology and exit");
    fprintf(out, "  %-34s %s\n", "--drain",
            "at the end of the input, close what is open, commit and exit (exit.on.end)");
    fprintf(out, "  %-34s %s\n", "-h, --help", "print this help and exit");
    fprintf(out, "\nRill properties (-D name=value or in the --config file):\n");
    rill__conf_print_keys(out);
    fprintf(out, "\nAny other property is passed to librdkafka; prefix it with consumer., "
                 "producer. or admin.\nto give it to that client only.\n");
}

/* Writes buf to the file at path. Returns 0 or -1 with errstr. */
static int cli_write_file(const char *path, const rill_buf_t *buf, char *errstr,
                          size_t errstr_size) {
    FILE *fp = fopen(path, "w");
    int ok;

    if (!fp) {
        snprintf(errstr, errstr_size, "--describe-dot %s: cannot open for writing: %s", path,
                 strerror(errno));
        return -1;
    }
    ok = fwrite(buf->data ? buf->data : "", 1, buf->len, fp) == buf->len;
    ok = (fclose(fp) == 0) && ok;
    if (!ok) {
        snprintf(errstr, errstr_size, "--describe-dot %s: write failed: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Prints topo's description to stdout, and its DOT form to dot_path when set. */
static int cli_describe(const rill_topology_t *topo, const char *dot_path, char *errstr,
                        size_t errstr_size) {
    rill_buf_t buf = {0};
    rill_err_t err;
    int rc = -1;

    if (!topo) {
        snprintf(errstr, errstr_size, "--describe: this program has no topology to describe");
        return -1;
    }
    err = rill_topology_describe(topo, &buf);
    if (err) {
        snprintf(errstr, errstr_size, "--describe: %s%s%s", rill_err2str(err),
                 rill_topology_error(topo) ? ": " : "",
                 rill_topology_error(topo) ? rill_topology_error(topo) : "");
        goto out;
    }
    fwrite(buf.data ? buf.data : "", 1, buf.len, stdout);
    fflush(stdout);
    rc = 0;
    if (dot_path) {
        rill_buf_reset(&buf);
        err = rill_topology_describe_dot(topo, &buf);
        if (err) {
            snprintf(errstr, errstr_size, "--describe-dot: %s", rill_err2str(err));
            rc = -1;
        } else {
            rc = cli_write_file(dot_path, &buf, errstr, errstr_size);
        }
    }
out:
    rill_buf_free(&buf);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Step 1: recognising the tokens                                                           */

static rill__cli_op_t *cli_op_add(rill__cli_parse_t *p, rill__cli_op_kind_t kind,
                                  const char *flag) {
    rill__cli_op_t *op = &p->ops[p->op_cnt++]; /* ops has room for one per token */

    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->flag = flag;
    return op;
}

/* Leaves argv[*ip] for the program, or fails when that is not allowed. */
static int cli_keep(rill__cli_parse_t *p, int i) {
    const char *tok = p->argv[i];

    if (!p->allow_extra) {
        if (tok[0] == '-' && tok[1])
            snprintf(p->errstr, p->errstr_size,
                     "unknown flag %s: see --help for the flags, or use -D name=value to set a "
                     "property",
                     tok);
        else
            snprintf(p->errstr, p->errstr_size,
                     "unexpected argument \"%s\": this program takes only flags (see --help)", tok);
        return -1;
    }
    p->kept_argv[p->kept++] = p->argv[i];
    return 0;
}

/* Gets the value of a value flag: after '=' in tok, or the next token. */
static const char *cli_flag_value(rill__cli_parse_t *p, int *ip, const char *flag, const char *eq) {
    if (eq)
        return eq + 1;
    if (*ip + 1 >= p->argc) {
        snprintf(p->errstr, p->errstr_size, "%s needs a value: %s VALUE", flag, flag);
        return NULL;
    }
    return p->argv[++*ip];
}

/* Handles -D name=value / -Dname=value. */
static int cli_define(rill__cli_parse_t *p, int *ip) {
    const char *tok = p->argv[*ip];
    const char *def = tok[2] ? tok + 2 : NULL;
    const char *eq;
    rill__cli_op_t *op;
    size_t nlen;

    if (!def) {
        if (*ip + 1 >= p->argc) {
            snprintf(p->errstr, p->errstr_size, "-D needs a property: -D name=value");
            return -1;
        }
        def = p->argv[++*ip];
    }
    eq = strchr(def, '=');
    nlen = eq ? (size_t)(eq - def) : 0;
    if (!eq || nlen == 0 || nlen >= sizeof(op->dname)) {
        snprintf(p->errstr, p->errstr_size, "-D %s: expected name=value, e.g. -D linger.ms=5", def);
        return -1;
    }
    op = cli_op_add(p, CLI_OP_SET, "-D");
    memcpy(op->dname, def, nlen);
    op->dname[nlen] = '\0';
    op->name = op->dname;
    op->value = eq + 1;
    return 0;
}

/* Handles a flag that takes a value (index vf in cli_value_flags). */
static int cli_value_flag(rill__cli_parse_t *p, int *ip, size_t vf, const char *eq) {
    const char *flag = cli_value_flags[vf].flag;
    const char *value = cli_flag_value(p, ip, flag, eq);
    rill__cli_op_t *op;

    if (!value)
        return -1;
    if (!strcmp(flag, "--describe-dot")) {
        p->dot_path = value;
        p->describe = 1;
        return 0;
    }
    op = cli_op_add(p, cli_value_flags[vf].property ? CLI_OP_SET : CLI_OP_CONFIG, flag);
    op->name = cli_value_flags[vf].property;
    op->value = value;
    return 0;
}

/* Returns the index in cli_value_flags of tok (up to any '='), or -1. Sets *eqp. */
static int cli_find_value_flag(const char *tok, const char **eqp) {
    const char *eq = strchr(tok, '=');
    size_t len = eq ? (size_t)(eq - tok) : strlen(tok);
    size_t i;

    for (i = 0; i < CLI_VALUE_FLAG_CNT; i++) {
        if (strlen(cli_value_flags[i].flag) == len && !strncmp(tok, cli_value_flags[i].flag, len)) {
            *eqp = eq;
            return (int)i;
        }
    }
    return -1;
}

/* Handles argv[*ip]; advances *ip past any value it consumed. Returns 0, 1 (stop) or -1. */
static int cli_token(rill__cli_parse_t *p, int *ip) {
    const char *tok = p->argv[*ip];
    const char *eq = NULL;
    int vf;

    if (!strcmp(tok, "--help") || !strcmp(tok, "-h")) {
        p->help = 1;
        return 1;
    }
    if (!strcmp(tok, "--describe")) {
        p->describe = 1;
        return 0;
    }
    if (!strcmp(tok, "--drain")) {
        rill__cli_op_t *op = cli_op_add(p, CLI_OP_SET, tok);
        op->name = "exit.on.end";
        op->value = "true";
        return 0;
    }
    if (!strncmp(tok, "-D", 2))
        return cli_define(p, ip);
    if (!strcmp(tok, "--")) {
        if (!p->allow_extra)
            return *ip + 1 < p->argc ? cli_keep(p, *ip + 1) : 1;
        for (; *ip < p->argc; ++*ip)
            cli_keep(p, *ip);
        return 1;
    }
    vf = cli_find_value_flag(tok, &eq);
    if (vf >= 0)
        return cli_value_flag(p, ip, (size_t)vf, eq);
    return cli_keep(p, *ip);
}

/* Step 1 over all of argv. Returns 0 or -1. */
static int cli_scan(rill__cli_parse_t *p) {
    int i, rc;

    for (i = 1; i < p->argc; i++) {
        rc = cli_token(p, &i);
        if (rc < 0)
            return -1;
        if (rc > 0)
            break;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Step 2: applying                                                                         */

static int cli_apply_op(const rill__cli_op_t *op, rill_conf_t *conf, char *errstr,
                        size_t errstr_size) {
    char msg[512];
    rill_err_t err;

    if (op->kind == CLI_OP_CONFIG)
        err = rill_conf_load_file(conf, op->value, msg, sizeof(msg));
    else
        err = rill_conf_set(conf, op->name, op->value, msg, sizeof(msg));
    if (!err)
        return 0;
    if (op->kind == CLI_OP_CONFIG)
        snprintf(errstr, errstr_size, "--config %s: %s", op->value, msg);
    else if (!strcmp(op->flag, "-D"))
        snprintf(errstr, errstr_size, "-D: %s", msg); /* msg names the property and value */
    else
        snprintf(errstr, errstr_size, "%s %s: %s", op->flag, op->value, msg);
    return -1;
}

/* Applies config files first, then the other settings in order. */
static int cli_apply(const rill__cli_parse_t *p, rill_conf_t *conf) {
    size_t i;
    int pass;

    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < p->op_cnt; i++) {
            const rill__cli_op_t *op = &p->ops[i];

            if ((op->kind == CLI_OP_CONFIG) != (pass == 0))
                continue;
            if (cli_apply_op(op, conf, p->errstr, p->errstr_size) != 0)
                return -1;
        }
    }
    return 0;
}

/*
 * Parses the shared command line (see rill.h) and applies it to conf. Returns 0 to go on, 1
 * when the program should exit successfully (help or description printed), -1 with errstr on
 * a bad flag. When 0 is returned, the tokens not recognised (allow_extra) stay in argv in
 * their order after argv[0], *argcp is updated and argv[*argcp] is NULL; argv is not changed
 * otherwise. topo is only read, for --describe.
 * Thread: the caller's; writes to stdout for --help and --describe.
 */
int rill_cli_parse(int *argcp, char **argv, rill_conf_t *conf, const rill_topology_t *topo,
                   int allow_extra, char *errstr, size_t errstr_size) {
    rill__cli_parse_t p = {0};
    int rc = -1;

    p.argc = *argcp > 0 ? *argcp : 0;
    p.argv = argv;
    p.allow_extra = allow_extra;
    p.errstr = errstr;
    p.errstr_size = errstr_size;
    p.ops = calloc((size_t)p.argc + 1, sizeof(*p.ops));
    p.kept_argv = calloc((size_t)p.argc + 1, sizeof(*p.kept_argv));
    if (!p.ops || !p.kept_argv) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    if (p.argc > 0)
        p.kept_argv[p.kept++] = argv[0];
    if (cli_scan(&p) != 0)
        goto out;
    if (p.help) {
        cli_usage(stdout, p.argc > 0 ? argv[0] : NULL);
        rc = 1;
        goto out;
    }
    if (cli_apply(&p, conf) != 0)
        goto out;
    if (p.describe) {
        rc = cli_describe(topo, p.dot_path, errstr, errstr_size) == 0 ? 1 : -1;
        goto out;
    }
    rc = 0;
out:
    if (rc == 0) {
        memcpy(argv, p.kept_argv, ((size_t)p.kept + 1) * sizeof(*argv));
        *argcp = p.kept;
    }
    free(p.kept_argv);
    free(p.ops);
    return rc;
}
