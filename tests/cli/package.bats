#!/usr/bin/env bats
# Install and package: `cmake --install` into a temp prefix, and `cpack -G DEB` from the build
# tree into a temp dir, unpacked with `dpkg -x` into a temp root: the binary runs from there and
# the man pages, completion, helpers, units and example config are where the README says.

load helpers

setup_file() {
	# The build tree is the one the binary under test came from.
	B="$(cd "$(dirname "$GOVERNOR")/.." && pwd)"
	export B
}

need_build_tree() {
	[ -f "$B/CPackConfig.cmake" ] && [ -f "$B/cmake_install.cmake" ] ||
		skip "no CMake build tree above $GOVERNOR (CPackConfig.cmake): run through ctest"
}

@test "cmake --install places binary, man pages, completion, helpers, units and example config" {
	need_build_tree
	p="$BATS_TEST_TMPDIR/prefix"
	run cmake --install "$B" --prefix "$p"
	[ "$status" -eq 0 ]
	for f in bin/governor share/man/man1/governor.1 share/man/man5/governor.conf.5 \
		share/bash-completion/completions/governor share/governor/helpers/heartbeat.sh \
		share/governor/helpers/add-task.sh lib/systemd/user/governor-heartbeat.service \
		lib/systemd/user/governor-heartbeat.timer share/doc/governor/governor.conf.example \
		share/doc/governor/examples/governor.crontab share/doc/governor/examples/openclaw/HEARTBEAT.md \
		share/doc/governor/json.md share/doc/governor/schema/decision.schema.json; do
		[ -f "$p/$f" ] || { echo "missing: $f" >&2; false; }
	done
	[ -x "$p/bin/governor" ] && [ -x "$p/share/governor/helpers/heartbeat.sh" ]
	run "$p/bin/governor" --version
	[ "$output" = "$("$GOVERNOR" --version)" ]
	# The install-time paths point into this prefix.
	grep -qx "ExecStart=$p/share/governor/helpers/heartbeat.sh" "$p/lib/systemd/user/governor-heartbeat.service"
	grep -qx "Environment=GOVERNOR=$p/bin/governor" "$p/lib/systemd/user/governor-heartbeat.service"
	grep -q " $p/share/governor/helpers/heartbeat.sh -q$" "$p/share/doc/governor/examples/governor.crontab"
	! grep -q @ "$p/lib/systemd/user/governor-heartbeat.service"
	run "$p/bin/governor" -c "$p/share/doc/governor/governor.conf.example" -d "$STATE" config --check
	[ "$status" -eq 0 ]
	run bash -c '. "$1" && complete -p governor' _ "$p/share/bash-completion/completions/governor"
	[ "$output" = "complete -F _governor governor" ]
	if command -v systemd-analyze >/dev/null; then
		run systemd-analyze verify --man=no "$p/lib/systemd/user/governor-heartbeat.service" \
			"$p/lib/systemd/user/governor-heartbeat.timer"
		[ "$status" -eq 0 ] && [ -z "$output" ]
	fi
}

@test "cpack builds a .deb with Debian runtime Depends; dpkg -x and the binary runs from there" {
	need_build_tree
	command -v cpack >/dev/null || skip "cpack is not installed"
	command -v dpkg-deb >/dev/null || skip "dpkg-deb is not installed"
	out="$BATS_TEST_TMPDIR/pkg"
	run cpack -G DEB --config "$B/CPackConfig.cmake" -B "$out"
	[ "$status" -eq 0 ] || { echo "$output" >&2; false; }
	debs=("$out"/governor_*.deb)
	[ "${#debs[@]}" -eq 1 ] && [ -f "${debs[0]}" ]
	deb=${debs[0]}

	run dpkg-deb -f "$deb" Package Version Architecture Depends
	[ "$status" -eq 0 ]
	echo "$output" >&3
	assert_contains "$output" "Package: governor"
	assert_contains "$output" "Version: $("$GOVERNOR" --version | awk '{ print $2 }')"
	depends=$(dpkg-deb -f "$deb" Depends)
	for lib in libproc2-0 libcjson1 libinih1 libc6; do
		[[ "$depends" == *"$lib"* ]] || { echo "Depends lacks $lib: $depends" >&2; false; }
	done
	# libcurl4 only when an installed binary links libcurl.
	root="$BATS_TEST_TMPDIR/root"
	dpkg -x "$deb" "$root"
	curl_users=""
	while IFS= read -r -d '' f; do
		if readelf -d "$f" 2>/dev/null | grep -q 'NEEDED.*libcurl'; then curl_users+=" $f"; fi
	done < <(find "$root" -type f -perm -u+x -print0)
	if [ -n "$curl_users" ]; then
		[[ "$depends" == *libcurl4* ]] || { echo "links libcurl but no libcurl4:$curl_users" >&2; false; }
	else
		[[ "$depends" != *libcurl* ]] || { echo "libcurl in Depends, but nothing links it" >&2; false; }
	fi

	run "$root/usr/bin/governor" --version
	[ "$status" -eq 0 ]
	[ "$output" = "$("$GOVERNOR" --version)" ]
	run "$root/usr/bin/governor" -d "$STATE" -c "$CONF" add "from the package"
	[ "$output" = T-01 ]
	for f in usr/share/man/man1/governor.1 usr/share/man/man5/governor.conf.5 \
		usr/share/bash-completion/completions/governor usr/lib/systemd/user/governor-heartbeat.service \
		usr/lib/systemd/user/governor-heartbeat.timer usr/share/governor/helpers/heartbeat.sh \
		usr/share/doc/governor/governor.conf.example; do
		[ -f "$root/$f" ] || { echo "missing from the package: $f" >&2; false; }
	done
	grep -qx 'ExecStart=/usr/share/governor/helpers/heartbeat.sh' "$root/usr/lib/systemd/user/governor-heartbeat.service"
	grep -qx 'Environment=GOVERNOR=/usr/bin/governor' "$root/usr/lib/systemd/user/governor-heartbeat.service"
	# Nothing from the build machine leaks into the package's paths.
	! dpkg-deb -c "$deb" | grep -q -e /usr/local -e "$B"
	! grep -rq -e "$B" -e "$BATS_TEST_TMPDIR" "$root/usr/lib/systemd" "$root/usr/share/doc/governor/examples"
}
