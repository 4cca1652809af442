// SPDX-License-Identifier: GPL-2.0
/*
 * replay - run a libFuzzer target over files without libFuzzer: each
 * argument is a file or a folder of files, each file one input.  Built
 * with gcc and the sanitizers, it replays the corpus where clang's
 * libFuzzer is missing, and is the corpus's regression test.
 *
 * Prints "replay: N inputs" and exits 0; a failed check aborts (the
 * target's CHECK, ASan, UBSan), naming the input first.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long inputs;

static int replay_file(const char *path)
{
	unsigned char *data;
	size_t size;
	long end;
	FILE *f;

	f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	end = fseek(f, 0, SEEK_END) ? -1 : ftell(f);
	if (end < 0 || fseek(f, 0, SEEK_SET)) {
		perror(path);
		fclose(f);
		return -1;
	}
	size = end;
	data = malloc(size ? size : 1);
	if (!data || fread(data, 1, size, f) != size) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	fprintf(stderr, "replay: %s\n", path);
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	inputs++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A folder's files, in name order so that runs compare. */
static int replay_dir(const char *path)
{
	char **names = NULL, full[4096];
	size_t n = 0, i;
	struct dirent *e;
	int err = 0;
	DIR *d;

	d = opendir(path);
	if (!d) {
		perror(path);
		return -1;
	}
	while ((e = readdir(d))) {
		char **more;

		if (e->d_name[0] == '.')
			continue;
		more = realloc(names, (n + 1) * sizeof(*names));
		if (!more) {
			fprintf(stderr, "replay: out of memory\n");
			break;
		}
		names = more;
		names[n] = strdup(e->d_name);
		if (!names[n]) {
			fprintf(stderr, "replay: out of memory\n");
			break;
		}
		n++;
	}
	if (e)
		err = -1;
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		snprintf(full, sizeof(full), "%s/%s", path, names[i]);
		if (!err && replay_file(full))
			err = -1;
		free(names[i]);
	}
	free(names);
	return err;
}

int main(int argc, char **argv)
{
	struct stat st;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st)) {
			perror(argv[i]);
			return 1;
		}
		if (S_ISDIR(st.st_mode) ? replay_dir(argv[i]) :
					  replay_file(argv[i]))
			return 1;
	}
	printf("replay: %lu inputs\n", inputs);
	return 0;
}
