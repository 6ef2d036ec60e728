/*
 * http-helper.c: governor-http, the one executable that links libcurl: it reads one request as
 * JSON on stdin, performs it, and prints "status N\n" and the body, or "error MESSAGE\n".
 *
 * governor spawns it only when an HTTP source or limit is configured and its cache is stale,
 * so the ~4 ms libcurl costs every process that links it is paid only then (docs/probes.md).
 *
 * Request: {"method":"GET"|"POST","url":"http://...","body":"...","headers":["Name: value"],
 *           "token_env":"NAME","timeout_ms":2000,"max_bytes":1048576}
 * Exit 0 with "status N\n<body>" when the server answered (any status); exit 1 with
 * "error MESSAGE\n" when it did not (timeout, refused, body too large, bad request).  The
 * bearer token is read from the environment variable token_env here, so it never passes
 * through governor; it is never printed.
 */
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <curl/curl.h>

#define REQUEST_MAX 65536

struct body {
	char *data;
	size_t len, cap, max;
	int too_big;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("error ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	return 1;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body *b = userdata;
	size_t n = size * nmemb;

	if (b->len + n > b->max) {
		b->too_big = 1;
		return 0;                 /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->data, cap)) == NULL)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	return n;
}

static const char *string_item(const cJSON *req, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int perform(const cJSON *req)
{
	const char *url = string_item(req, "url"), *method = string_item(req, "method");
	const char *body = string_item(req, "body"), *token_env = string_item(req, "token_env");
	const cJSON *timeout = cJSON_GetObjectItemCaseSensitive(req, "timeout_ms");
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(req, "max_bytes");
	const cJSON *headers = cJSON_GetObjectItemCaseSensitive(req, "headers"), *h;
	struct curl_slist *list = NULL, *grown;
	struct body resp = { .max = 1024 * 1024 };
	char errbuf[CURL_ERROR_SIZE] = "", *auth = NULL;
	long status = 0;
	CURLcode rc;
	CURL *curl;
	int ret;

	if (url == NULL)
		return fail("request has no url");
	if (method == NULL)
		method = "GET";
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		return fail("unsupported method %s", method);
	if (cJSON_IsNumber(max) && max->valuedouble > 0)
		resp.max = (size_t)max->valuedouble;
	if (token_env != NULL) {
		const char *token = getenv(token_env);
		size_t n;

		if (token == NULL || *token == '\0')
			return fail("environment variable %s (token_env) is not set", token_env);
		n = strlen("Authorization: Bearer ") + strlen(token) + 1;
		if ((auth = malloc(n)) == NULL)
			return fail("out of memory");
		snprintf(auth, n, "Authorization: Bearer %s", token);
	}
	if ((curl = curl_easy_init()) == NULL) {
		free(auth);
		return fail("cannot initialise libcurl");
	}
	cJSON_ArrayForEach(h, headers) {
		if (cJSON_IsString(h) && (grown = curl_slist_append(list, h->valuestring)) != NULL)
			list = grown;
	}
	if (auth != NULL && (grown = curl_slist_append(list, auth)) != NULL)
		list = grown;
	if (strcmp(method, "POST") == 0) {
		if ((grown = curl_slist_append(list, "Content-Type: application/json")) != NULL)
			list = grown;
		if ((grown = curl_slist_append(list, "Expect:")) != NULL)
			list = grown;
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
	if (cJSON_IsNumber(timeout) && timeout->valuedouble > 0) {
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout->valuedouble);
		curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout->valuedouble);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "governor-http/" GOVERNOR_VERSION);

	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(list);
	if (auth != NULL) {
		memset(auth, 0, strlen(auth));
		free(auth);
	}
	if (resp.too_big)
		ret = fail("response body larger than %zu bytes", resp.max);
	else if (rc != CURLE_OK)
		ret = fail("%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else {
		printf("status %ld\n", status);
		if (resp.len > 0)
			fwrite(resp.data, 1, resp.len, stdout);
		ret = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
	}
	free(resp.data);
	return ret;
}

int main(void)
{
	static char buf[REQUEST_MAX + 1];
	size_t len = 0;
	cJSON *req;
	int ret;

	signal(SIGPIPE, SIG_IGN);         /* NOSIGNAL: libcurl no longer ignores it for us */
	while (len < REQUEST_MAX) {
		ssize_t n = read(STDIN_FILENO, buf + len, REQUEST_MAX - len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	req = cJSON_ParseWithLength(buf, len);
	if (!cJSON_IsObject(req)) {
		cJSON_Delete(req);
		return fail("request on stdin is not a JSON object");
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		cJSON_Delete(req);
		return fail("cannot initialise libcurl");
	}
	ret = perform(req);
	curl_global_cleanup();
	cJSON_Delete(req);
	return ret;
}
