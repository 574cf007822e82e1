/* nbdbench: a lean NBD client for benchmarking servers over a Unix socket.
 *
 * Modes:
 *   read|write  random BS-sized requests, QD in flight on one socket, for
 *               SECS seconds; replies are parsed in bulk from one big recv
 *               buffer.  Two client patterns (-p):
 *                 refill  (default) every read of replies is followed by one
 *                         write of as many new requests as it completed, so
 *                         the queue stays full;
 *                 batch   lockstep: QD requests in one write, then wait for
 *                         all QD replies before the next batch.
 *   fill        sequential writes of BS bytes (non-zero data) over the
 *               whole disk, QD in flight; makes a disk non-sparse.
 *   hs          connection setup loop for SECS seconds: connect, structured
 *               replies, base:allocation, GO, NBD_CMD_DISC, close.
 *
 * Output is one line of key=value pairs on stdout.
 *
 * Usage: nbdbench -U SOCK -m MODE [-q QD] [-t SECS] [-b BS] [-S] [-p refill|batch]
 *                 [-c CONNS] [-w poll|block] [-P PSKFILE -u USER | -C CADIR]
 *   -c  read/write on CONNS connections at once (one process each, QD in
 *       flight on each); the rate is their sum.
 *   -S  negotiate structured replies for read/write/fill (what libnbd does).
 *   -w  how a plaintext read waits for the server: poll (default: as libnbd,
 *       recv until EAGAIN, then poll(2) for POLLIN) or block (read(2)).
 *   -P  STARTTLS first, with user USER's key from a psktool file (GnuTLS).
 *   -C  STARTTLS first, trusting CADIR/ca-cert.pem (X.509).
 * With TLS every read and write of the client goes through GnuTLS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <endian.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <poll.h>
#include <gnutls/gnutls.h>

#define OPT_MAGIC   0x49484156454F5054ULL
#define REP_MAGIC   0x0003e889045565a9ULL
#define REQ_MAGIC   0x25609513U
#define SIMPLE_MAGIC 0x67446698U
#define STRUCT_MAGIC 0x668e33efU

#define OPT_STARTTLS 5
#define OPT_GO 7
#define OPT_STRUCTURED_REPLY 8
#define OPT_SET_META_CONTEXT 10
#define REP_ACK 1
#define REP_INFO 3
#define REP_META_CONTEXT 4
#define CMD_READ 0
#define CMD_WRITE 1
#define CMD_DISC 2

static const char *sockpath;
static uint64_t disk_size;

/* TLS: the credentials (NULL: plaintext) and the current connection's
 * session (NULL until STARTTLS). */
static gnutls_psk_client_credentials_t psk_creds;
static gnutls_certificate_credentials_t x509_creds;
static gnutls_session_t tls;

static void die(const char *msg)
{
  fprintf(stderr, "nbdbench: %s: %s\n", msg, errno ? strerror(errno) : "protocol");
  exit(1);
}

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* How a plaintext read waits (-w): 1 as libnbd and qemu wait, reading
 * until EAGAIN and then sleeping in poll(2) for POLLIN; 0 asleep in a
 * blocking read(2).  On AF_UNIX a client asleep in read(2) is also woken
 * each time the server reads what it sent (the kernel's write-space
 * wake-up), an extra cross-CPU wake-up per message on the server's CPU
 * that a client waiting in poll(2) for POLLIN never gets. */
static int wait_poll = 1;

/* read(2)/write(2), or through the TLS session once there is one. */
static ssize_t io_read(int fd, void *buf, size_t n)
{
  if (!tls && !wait_poll) return read(fd, buf, n);
  if (!tls) {
    for (;;) {
      ssize_t r = recv(fd, buf, n, MSG_DONTWAIT);
      if (r >= 0 || errno != EAGAIN) return r;
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      if (poll(&pfd, 1, -1) < 0 && errno != EINTR) return -1;
    }
  }
  ssize_t r;
  do r = gnutls_record_recv(tls, buf, n);
  while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
  if (r < 0) { fprintf(stderr, "nbdbench: %s\n", gnutls_strerror(r)); errno = EIO; return -1; }
  return r;
}

static ssize_t io_write(int fd, const void *buf, size_t n)
{
  if (!tls) return write(fd, buf, n);
  ssize_t r;
  do r = gnutls_record_send(tls, buf, n);
  while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
  if (r < 0) { fprintf(stderr, "nbdbench: %s\n", gnutls_strerror(r)); errno = EIO; return -1; }
  return r;
}

static void write_all(int fd, const void *buf, size_t n)
{
  const char *p = buf;
  while (n > 0) {
    ssize_t r = io_write(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += r;
    n -= r;
  }
}

static void read_all(int fd, void *buf, size_t n)
{
  char *p = buf;
  while (n > 0) {
    ssize_t r = io_read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (r == 0) { errno = 0; die("unexpected EOF"); }
    p += r;
    n -= r;
  }
}

static void put32(char **p, uint32_t v) { v = htobe32(v); memcpy(*p, &v, 4); *p += 4; }
static void put16(char **p, uint16_t v) { v = htobe16(v); memcpy(*p, &v, 2); *p += 2; }
static void put64(char **p, uint64_t v) { v = htobe64(v); memcpy(*p, &v, 8); *p += 8; }
static uint32_t get32(const char *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static uint16_t get16(const char *p) { uint16_t v; memcpy(&v, p, 2); return be16toh(v); }
static uint64_t get64(const char *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }

static int do_connect(void)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  strncpy(sun.sun_path, sockpath, sizeof sun.sun_path - 1);
  if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) die("connect");
  return fd;
}

/* Send one option with payload, in one write. */
static void send_opt(int fd, uint32_t opt, const char *data, uint32_t len)
{
  char buf[256], *p = buf;
  if (len > sizeof buf - 16) { errno = 0; die("option too long"); }
  put64(&p, OPT_MAGIC);
  put32(&p, opt);
  put32(&p, len);
  memcpy(p, data, len);
  p += len;
  write_all(fd, buf, p - buf);
}

/* Read one option reply; returns its type, fills payload (truncated). */
static uint32_t recv_opt_reply(int fd, uint32_t opt, char *data, uint32_t *len)
{
  char hdr[20];
  read_all(fd, hdr, 20);
  if (get64(hdr) != REP_MAGIC || get32(hdr + 8) != opt) { errno = 0; die("bad option reply"); }
  uint32_t type = get32(hdr + 12), n = get32(hdr + 16);
  char tmp[4096];
  if (n > sizeof tmp) { errno = 0; die("option reply too long"); }
  read_all(fd, tmp, n);
  if (type & 0x80000000U) { errno = 0; die("option refused by server"); }
  if (data) memcpy(data, tmp, n);
  if (len) *len = n;
  return type;
}

/* Fixed newstyle handshake ending with NBD_OPT_GO on the default export. */
static int handshake(int structured, int meta)
{
  int fd = do_connect();
  char buf[128], *p;
  read_all(fd, buf, 18);
  if (memcmp(buf, "NBDMAGIC", 8) != 0 || get64(buf + 8) != OPT_MAGIC) { errno = 0; die("not newstyle"); }
  uint16_t sflags = get16(buf + 16);
  uint32_t cflags = 1 /* FIXED_NEWSTYLE */ | (sflags & 2 ? 2 : 0) /* NO_ZEROES */;
  p = buf;
  put32(&p, cflags);
  write_all(fd, buf, 4);

  if (psk_creds || x509_creds) {
    send_opt(fd, OPT_STARTTLS, NULL, 0);
    if (recv_opt_reply(fd, OPT_STARTTLS, NULL, NULL) != REP_ACK) { errno = 0; die("STARTTLS"); }
    int r;
    if (gnutls_init(&tls, GNUTLS_CLIENT) < 0) { errno = 0; die("gnutls_init"); }
    if (psk_creds) {
      r = gnutls_priority_set_direct(tls, "NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK", NULL);
      if (r == 0) r = gnutls_credentials_set(tls, GNUTLS_CRD_PSK, psk_creds);
    } else {
      r = gnutls_priority_set_direct(tls, "NORMAL", NULL);
      if (r == 0) r = gnutls_credentials_set(tls, GNUTLS_CRD_CERTIFICATE, x509_creds);
      gnutls_session_set_verify_cert(tls, NULL, 0);
    }
    if (r < 0) { fprintf(stderr, "nbdbench: %s\n", gnutls_strerror(r)); exit(1); }
    gnutls_transport_set_int(tls, fd);
    do r = gnutls_handshake(tls);
    while (r < 0 && !gnutls_error_is_fatal(r));
    if (r < 0) { fprintf(stderr, "nbdbench: TLS handshake: %s\n", gnutls_strerror(r)); exit(1); }
  }

  if (structured) {
    send_opt(fd, OPT_STRUCTURED_REPLY, NULL, 0);
    if (recv_opt_reply(fd, OPT_STRUCTURED_REPLY, NULL, NULL) != REP_ACK) { errno = 0; die("structured replies"); }
  }
  if (meta) {
    const char *ctx = "base:allocation";
    p = buf;
    put32(&p, 0);                 /* export name "" */
    put32(&p, 1);                 /* one query */
    put32(&p, strlen(ctx));
    memcpy(p, ctx, strlen(ctx)); p += strlen(ctx);
    send_opt(fd, OPT_SET_META_CONTEXT, buf, p - buf);
    uint32_t t;
    while ((t = recv_opt_reply(fd, OPT_SET_META_CONTEXT, NULL, NULL)) != REP_ACK)
      if (t != REP_META_CONTEXT) { errno = 0; die("meta context"); }
  }
  p = buf;
  put32(&p, 0);                   /* export name "" */
  put16(&p, 0);                   /* no info requests */
  send_opt(fd, OPT_GO, buf, p - buf);
  for (;;) {
    char d[4096];
    uint32_t n;
    uint32_t t = recv_opt_reply(fd, OPT_GO, d, &n);
    if (t == REP_ACK) break;
    if (t == REP_INFO && n >= 12 && get16(d) == 0 /* NBD_INFO_EXPORT */)
      disk_size = get64(d + 2);
  }
  return fd;
}

static void disconnect(int fd)
{
  char buf[28], *p = buf;
  put32(&p, REQ_MAGIC); put16(&p, 0); put16(&p, CMD_DISC);
  put64(&p, 0); put64(&p, 0); put32(&p, 0);
  write_all(fd, buf, 28);
  if (tls) {
    gnutls_bye(tls, GNUTLS_SHUT_WR);
    gnutls_deinit(tls);
    tls = NULL;
  }
  close(fd);
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t xorshift(void)
{
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return rng;
}

static int run_hs(double secs)
{
  long n = 0;
  double t0 = now(), t;
  do {
    int fd = handshake(1, 1);
    disconnect(fd);
    n++;
  } while ((t = now()) - t0 < secs);
  printf("ops=%ld secs=%.3f rate=%.1f\n", n, t - t0, n / (t - t0));
  return 0;
}

/* I/O loop shared by read, write and fill.  batch: lockstep batches of
 * QD requests instead of continuous refill. */
static int run_io(int mode, int qd, double secs, uint32_t bs, int structured, int batch)
{
  int fd = handshake(structured, 0);
  if (disk_size < bs) { errno = 0; die("disk smaller than block"); }
  uint64_t nblocks = disk_size / bs;
  int is_write = mode != 'r';

  size_t reqsz = 28 + (is_write ? bs : 0);
  char *sbuf = malloc(reqsz * qd);
  size_t rcap = (size_t)qd * (bs + 64) + 65536;
  char *rbuf = malloc(rcap);
  char *wdata = malloc(bs);
  if (!sbuf || !rbuf || !wdata) die("malloc");
  for (uint32_t i = 0; i < bs; i++) wdata[i] = (char)(i * 7 + 1); /* non-zero */

  uint64_t next_seq = 0;        /* fill: next block */
  uint64_t issued = 0, done = 0;
  int stop = 0;
  double t0 = now(), tend = 0;

  /* Build up to `k` requests into sbuf and send them in one write. */
#define REFILL(k) do {                                                   \
    char *p_ = sbuf; int k_ = (k);                                       \
    for (int i_ = 0; i_ < k_; i_++) {                                    \
      uint64_t blk_;                                                     \
      if (mode == 'f') { if (next_seq >= nblocks) break; blk_ = next_seq++; } \
      else blk_ = xorshift() % nblocks;                                  \
      put32(&p_, REQ_MAGIC); put16(&p_, 0);                              \
      put16(&p_, is_write ? CMD_WRITE : CMD_READ);                       \
      put64(&p_, issued); put64(&p_, blk_ * bs); put32(&p_, bs);         \
      if (is_write) { memcpy(p_, wdata, bs); p_ += bs; }                 \
      issued++;                                                          \
    }                                                                    \
    if (p_ > sbuf) write_all(fd, sbuf, p_ - sbuf);                       \
  } while (0)

  REFILL(qd);
  size_t have = 0, pos = 0;
  while (done < issued) {
    ssize_t r = io_read(fd, rbuf + have, rcap - have);
    if (r < 0) { if (errno == EINTR) continue; die("read reply"); }
    if (r == 0) { errno = 0; die("server closed"); }
    have += r;
    int completed = 0;
    for (;;) {
      size_t avail = have - pos;
      const char *h = rbuf + pos;
      if (avail < 4) break;
      uint32_t magic = get32(h);
      if (magic == SIMPLE_MAGIC) {
        if (avail < 16) break;
        if (get32(h + 4) != 0) { errno = 0; die("server returned an error"); }
        size_t need = 16 + (is_write ? 0 : bs);
        if (avail < need) break;
        pos += need;
        completed++;
      } else if (magic == STRUCT_MAGIC) {
        if (avail < 20) break;
        uint16_t flags = get16(h + 4), type = get16(h + 6);
        uint32_t len = get32(h + 16);
        if (avail < 20 + (size_t)len) break;
        if (type & 0x8000) { errno = 0; die("server returned an error chunk"); }
        pos += 20 + len;
        if (flags & 1 /* DONE */) completed++;
      } else {
        errno = 0; die("bad reply magic");
      }
    }
    /* Slide the partial tail to the front. */
    if (pos > 0) {
      memmove(rbuf, rbuf + pos, have - pos);
      have -= pos;
      pos = 0;
    }
    done += completed;
    if (!stop) {
      if (mode != 'f' && now() - t0 >= secs) { stop = 1; tend = now(); }
      else if (mode == 'f' && next_seq >= nblocks) stop = 1;
      if (!stop && completed) {
        if (!batch) REFILL(completed);
        else if (done == issued) REFILL(qd);
      }
    }
  }
  double t1 = now();
  if (mode == 'f' || tend == 0) tend = t1;
  /* Count only requests completed within the timed window for the rate:
   * the drain after `stop` is short (at most qd requests). */
  disconnect(fd);
  printf("ops=%llu secs=%.3f rate=%.1f mibps=%.1f size=%llu\n",
         (unsigned long long)done, t1 - t0, done / (t1 - t0),
         done * (double)bs / (t1 - t0) / 1048576.0,
         (unsigned long long)disk_size);
  return 0;
}

/* run_io on `conns` connections at once, one child process each; sums
 * their lines (ops, secs) into one. */
static int run_many(int conns, int mode, int qd, double secs, uint32_t bs, int structured, int batch)
{
  int pfd[2];
  if (pipe(pfd) < 0) die("pipe");
  fflush(stdout);
  for (int i = 0; i < conns; i++) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      close(pfd[0]);
      if (dup2(pfd[1], 1) < 0) _exit(1);
      rng ^= (uint64_t)getpid() << 32 | (uint64_t)i;
      run_io(mode, qd, secs, bs, structured, batch);
      fflush(stdout);
      _exit(0);
    }
  }
  close(pfd[1]);
  FILE *f = fdopen(pfd[0], "r");
  char line[512];
  unsigned long long ops_sum = 0, size = 0;
  double secs_max = 0;
  int lines = 0;
  while (f && fgets(line, sizeof line, f)) {
    unsigned long long ops; double s;
    if (sscanf(line, "ops=%llu secs=%lf", &ops, &s) == 2) {
      ops_sum += ops;
      if (s > secs_max) secs_max = s;
      char *z = strstr(line, "size=");
      if (z) size = strtoull(z + 5, NULL, 10);
      lines++;
    }
  }
  int status, failed = 0;
  while (wait(&status) > 0)
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
  if (failed || lines != conns) { errno = 0; die("a connection failed"); }
  printf("ops=%llu secs=%.3f rate=%.1f mibps=%.1f size=%llu conns=%d\n",
         ops_sum, secs_max, ops_sum / secs_max,
         ops_sum * (double)bs / secs_max / 1048576.0, size, conns);
  return 0;
}

/* USER's hex key from a psktool file (lines "user:hexkey"). */
static int load_psk(const char *file, const char *user)
{
  FILE *f = fopen(file, "r");
  char line[1024];
  size_t ulen = strlen(user);
  if (!f) { perror(file); return -1; }
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, user, ulen) != 0 || line[ulen] != ':') continue;
    char *hex = line + ulen + 1;
    hex[strcspn(hex, "\r\n")] = 0;
    gnutls_datum_t key = { (unsigned char *)hex, strlen(hex) };
    fclose(f);
    if (gnutls_psk_allocate_client_credentials(&psk_creds) < 0 ||
        gnutls_psk_set_client_credentials(psk_creds, user, &key, GNUTLS_PSK_KEY_HEX) < 0) {
      fprintf(stderr, "nbdbench: bad key for %s in %s\n", user, file);
      return -1;
    }
    return 0;
  }
  fclose(f);
  fprintf(stderr, "nbdbench: %s: no user %s\n", file, user);
  return -1;
}

int main(int argc, char **argv)
{
  const char *mode = NULL;
  int qd = 16, structured = 0, batch = 0, conns = 1, c;
  const char *pskfile = NULL, *user = NULL, *cadir = NULL;
  double secs = 5;
  uint32_t bs = 4096;
  while ((c = getopt(argc, argv, "U:m:q:t:b:Sp:P:u:C:c:w:")) != -1) {
    switch (c) {
    case 'U': sockpath = optarg; break;
    case 'm': mode = optarg; break;
    case 'q': qd = atoi(optarg); break;
    case 'c': conns = atoi(optarg); break;
    case 't': secs = atof(optarg); break;
    case 'b': bs = strtoul(optarg, NULL, 0); break;
    case 'S': structured = 1; break;
    case 'p':
      if (strcmp(optarg, "batch") == 0) batch = 1;
      else if (strcmp(optarg, "refill") == 0) batch = 0;
      else goto usage;
      break;
    case 'P': pskfile = optarg; break;
    case 'u': user = optarg; break;
    case 'C': cadir = optarg; break;
    case 'w':
      if (strcmp(optarg, "poll") == 0) wait_poll = 1;
      else if (strcmp(optarg, "block") == 0) wait_poll = 0;
      else goto usage;
      break;
    default: goto usage;
    }
  }
  if (!sockpath || !mode || qd < 1 || conns < 1 || (pskfile && !user)) goto usage;
  if (pskfile && load_psk(pskfile, user) == -1) return 1;
  if (cadir) {
    char ca[4096];
    snprintf(ca, sizeof ca, "%s/ca-cert.pem", cadir);
    if (gnutls_certificate_allocate_credentials(&x509_creds) < 0 ||
        gnutls_certificate_set_x509_trust_file(x509_creds, ca, GNUTLS_X509_FMT_PEM) <= 0) {
      fprintf(stderr, "nbdbench: cannot load %s\n", ca);
      return 1;
    }
  }
  rng ^= (uint64_t)getpid() << 20;
  if (strcmp(mode, "hs") == 0) return run_hs(secs);
  if (conns > 1 && strcmp(mode, "read") == 0) return run_many(conns, 'r', qd, secs, bs, structured, batch);
  if (conns > 1 && strcmp(mode, "write") == 0) return run_many(conns, 'w', qd, secs, bs, structured, batch);
  if (strcmp(mode, "read") == 0) return run_io('r', qd, secs, bs, structured, batch);
  if (strcmp(mode, "write") == 0) return run_io('w', qd, secs, bs, structured, batch);
  if (strcmp(mode, "fill") == 0) return run_io('f', qd, secs, bs, structured, 0);
usage:
  fprintf(stderr, "usage: nbdbench -U SOCK -m read|write|fill|hs [-q QD] [-t SECS] [-b BS] [-S]\n"
                  "                [-p refill|batch] [-c CONNS] [-w poll|block]\n"
                  "                [-P PSKFILE -u USER | -C CADIR]\n");
  return 2;
}
