#include "apiserver/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/gnutls_dl.h"

#define CA_YEARS 10
#define SERVING_DAYS 365

static void crt_deinit(gnutls_x509_crt_t *crt)
{
	if (*crt)
		sym_gnutls_x509_crt_deinit(*crt);
}

static void key_deinit(gnutls_x509_privkey_t *key)
{
	if (*key)
		sym_gnutls_x509_privkey_deinit(*key);
}

#define _cleanup_crt_ _cleanup_(crt_deinit)
#define _cleanup_key_ _cleanup_(key_deinit)

static int tls_failed(struct ck_error *err, int code, const char *step)
{
	return ck_error_set(err, EIO, "%s: %s", step, sym_gnutls_strerror(code));
}

static char *datum_string(gnutls_datum_t *datum)
{
	char *text = strndup((const char *)datum->data, datum->size);
	(*sym_gnutls_free)(datum->data);
	return text;
}

static int export_key(gnutls_x509_privkey_t key, char **pem, struct ck_error *err)
{
	gnutls_datum_t out;
	int rc = sym_gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &out);
	if (rc < 0)
		return tls_failed(err, rc, "export private key");
	*pem = datum_string(&out);
	return *pem ? 0 : ck_error_set(err, ENOMEM, "export private key: out of memory");
}

static int export_crt(gnutls_x509_crt_t crt, char **pem, struct ck_error *err)
{
	gnutls_datum_t out;
	int rc = sym_gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out);
	if (rc < 0)
		return tls_failed(err, rc, "export certificate");
	*pem = datum_string(&out);
	return *pem ? 0 : ck_error_set(err, ENOMEM, "export certificate: out of memory");
}

static int new_key(gnutls_x509_privkey_t *key, struct ck_error *err)
{
	int rc = sym_gnutls_x509_privkey_init(key);
	if (rc == 0)
		rc = sym_gnutls_x509_privkey_generate(
		    *key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	return rc < 0 ? tls_failed(err, rc, "generate key") : 0;
}

/* The fields every certificate here shares: version, serial, validity, subject, key. */
static int new_crt(gnutls_x509_crt_t *crt, gnutls_x509_privkey_t key, const char *common_name,
		   time_t lifetime, struct ck_error *err)
{
	unsigned char serial[16];
	if (getrandom(serial, sizeof(serial), 0) != sizeof(serial))
		return ck_error_errno(err, errno, "certificate serial");
	serial[0] &= 0x7f; /* a positive number */
	time_t now = time(NULL);
	int rc = sym_gnutls_x509_crt_init(crt);
	if (rc == 0)
		rc = sym_gnutls_x509_crt_set_version(*crt, 3);
	if (rc == 0)
		rc = sym_gnutls_x509_crt_set_serial(*crt, serial, sizeof(serial));
	/* A little back in time, for clocks of clients that run behind. */
	if (rc == 0)
		rc = sym_gnutls_x509_crt_set_activation_time(*crt, now - 3600);
	if (rc == 0)
		rc = sym_gnutls_x509_crt_set_expiration_time(*crt, now + lifetime);
	if (rc == 0)
		rc = sym_gnutls_x509_crt_set_dn_by_oid(*crt, GNUTLS_OID_X520_COMMON_NAME, 0,
						       common_name, (unsigned)strlen(common_name));
	if (rc == 0)
		rc = sym_gnutls_x509_crt_set_key(*crt, key);
	return rc < 0 ? tls_failed(err, rc, "make certificate") : 0;
}

/* The CA from <dir>/ca.crt and ca.key, made and saved when missing. */
static int load_or_make_ca(const char *dir, gnutls_x509_crt_t *crt, gnutls_x509_privkey_t *key,
			   char **ca_pem, struct ck_error *err)
{
	_cleanup_free_ char *crt_path = NULL, *key_path = NULL;
	if (asprintf(&crt_path, "%s/ca.crt", dir) < 0 || asprintf(&key_path, "%s/ca.key", dir) < 0)
		return ck_error_set(err, ENOMEM, "CA paths: out of memory");
	_cleanup_free_ char *key_pem = NULL;
	struct ck_error read_err = {0};
	size_t crt_len = 0, key_len = 0;
	if (fs_read_file(crt_path, ca_pem, &crt_len, &read_err) == 0 &&
	    fs_read_file(key_path, &key_pem, &key_len, &read_err) == 0) {
		gnutls_datum_t crt_datum = {(unsigned char *)*ca_pem, (unsigned)crt_len};
		gnutls_datum_t key_datum = {(unsigned char *)key_pem, (unsigned)key_len};
		int rc = sym_gnutls_x509_crt_init(crt);
		if (rc == 0)
			rc = sym_gnutls_x509_crt_import(*crt, &crt_datum, GNUTLS_X509_FMT_PEM);
		if (rc == 0)
			rc = sym_gnutls_x509_privkey_init(key);
		if (rc == 0)
			rc = sym_gnutls_x509_privkey_import(*key, &key_datum, GNUTLS_X509_FMT_PEM);
		if (rc < 0)
			return tls_failed(err, rc, "read the cluster CA");
		return 0;
	}
	free(*ca_pem);
	*ca_pem = NULL;
	int ret = new_key(key, err);
	if (ret == 0)
		ret = new_crt(crt, *key, "ckube-ca", (time_t)CA_YEARS * 365 * 24 * 3600, err);
	if (ret < 0)
		return ret;
	int rc = sym_gnutls_x509_crt_set_basic_constraints(*crt, 1, -1);
	if (rc == 0)
		rc = sym_gnutls_x509_crt_set_key_usage(*crt, GNUTLS_KEY_KEY_CERT_SIGN |
								 GNUTLS_KEY_CRL_SIGN);
	if (rc == 0)
		rc = sym_gnutls_x509_crt_sign2(*crt, *crt, *key, GNUTLS_DIG_SHA256, 0);
	if (rc < 0)
		return tls_failed(err, rc, "make the cluster CA");
	if (export_crt(*crt, ca_pem, err) < 0 || export_key(*key, &key_pem, err) < 0)
		return -EIO;
	if (fs_write_file_atomic(key_path, key_pem, strlen(key_pem), 0600, err) < 0 ||
	    fs_write_file_atomic(crt_path, *ca_pem, strlen(*ca_pem), 0644, err) < 0)
		return -EIO;
	return 0;
}

static int add_sans(gnutls_x509_crt_t crt, const char *const *ips, const char *const *names,
		    struct ck_error *err)
{
	for (size_t i = 0; names && names[i]; i++) {
		int rc = sym_gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, names[i],
								  (unsigned)strlen(names[i]),
								  GNUTLS_FSAN_APPEND);
		if (rc < 0)
			return tls_failed(err, rc, "certificate name");
	}
	for (size_t i = 0; ips && ips[i]; i++) {
		unsigned char raw[16];
		unsigned len;
		if (inet_pton(AF_INET, ips[i], raw) == 1)
			len = 4;
		else if (inet_pton(AF_INET6, ips[i], raw) == 1)
			len = 16;
		else
			return ck_error_set(err, EINVAL, "certificate address %s: not an IP",
					    ips[i]);
		int rc = sym_gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, raw,
								  len, GNUTLS_FSAN_APPEND);
		if (rc < 0)
			return tls_failed(err, rc, "certificate address");
	}
	return 0;
}

int tls_prepare(const char *data_dir, const char *const *ips, const char *const *names,
		struct tls_material *out, struct ck_error *err)
{
	memset(out, 0, sizeof(*out));
	if (dlopen_gnutls(err) < 0)
		return ck_error_prefix(err, "TLS");
	_cleanup_free_ char *dir = NULL;
	if (asprintf(&dir, "%s/tls", data_dir) < 0)
		return ck_error_set(err, ENOMEM, "TLS directory: out of memory");
	if (fs_mkdir_p(dir, 0700, err) < 0)
		return -EIO;
	_cleanup_crt_ gnutls_x509_crt_t ca = NULL, crt = NULL;
	_cleanup_key_ gnutls_x509_privkey_t ca_key = NULL, key = NULL;
	int ret = load_or_make_ca(dir, &ca, &ca_key, &out->ca_pem, err);
	if (ret == 0)
		ret = new_key(&key, err);
	if (ret == 0)
		ret = new_crt(&crt, key, "ckube-apiserver", (time_t)SERVING_DAYS * 24 * 3600, err);
	if (ret == 0)
		ret = add_sans(crt, ips, names, err);
	if (ret < 0) {
		tls_material_clear(out);
		return ck_error_prefix(err, "TLS");
	}
	unsigned char key_id[64];
	size_t key_id_len = sizeof(key_id);
	int rc = sym_gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
	if (rc == 0)
		rc = sym_gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
								GNUTLS_KEY_KEY_ENCIPHERMENT);
	if (rc == 0)
		rc = sym_gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
	if (rc == 0 && sym_gnutls_x509_crt_get_subject_key_id(ca, key_id, &key_id_len, NULL) == 0)
		rc = sym_gnutls_x509_crt_set_authority_key_id(crt, key_id, key_id_len);
	if (rc == 0)
		rc = sym_gnutls_x509_crt_sign2(crt, ca, ca_key, GNUTLS_DIG_SHA256, 0);
	if (rc < 0 || export_crt(crt, &out->cert_pem, err) < 0 ||
	    export_key(key, &out->key_pem, err) < 0) {
		tls_material_clear(out);
		return rc < 0 ? tls_failed(err, rc, "TLS: sign the serving certificate") : -EIO;
	}
	return 0;
}

void tls_material_clear(struct tls_material *material)
{
	free(material->ca_pem);
	free(material->cert_pem);
	free(material->key_pem);
	memset(material, 0, sizeof(*material));
}
