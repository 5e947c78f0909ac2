# Shared set-up steps for scripts/start and scripts/test.
#
# Packages are installed with --no-install-recommends, so every list names each package a tool
# really needs at run time, not only the tool itself (apt-cache depends --recommends TOOL shows
# what would otherwise be missing on a fresh machine).

# What Qt's window needs on X11: the xcb platform plugin's libraries (ldd libqxcb.so) and the
# GL, font and D-Bus libraries it loads. postdesk checks the same set before it starts Qt.
QT_WINDOW_PACKAGES=(
    libxcb-cursor0 libxkbcommon0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
    libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-shm0
    libxcb-sync1 libxcb-xfixes0 libxcb-render0 libxcb-util1 libxcb1 libx11-xcb1 libx11-6
    libegl1 libgl1 libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0
)

# The real servers and tools the test suite runs, each with what it needs under
# --no-install-recommends: swaks speaks TLS only with Net::SSLeay and IO::Socket::SSL (merely
# recommended); gnome-keyring's Secret Service runs on a private dbus-daemon; secret-tool comes
# from libsecret-tools; the store fault tests use chattr (e2fsprogs) and mount/unshare.
TEST_TOOL_PACKAGES=(
    nsd gnome-keyring dbus-daemon postgresql libsecret-tools
    swaks libnet-ssleay-perl libio-socket-ssl-perl
    e2fsprogs mount util-linux
)

# The Debian packages among "$@" that are not installed yet.
missing_debian_packages() {
    command -v dpkg-query >/dev/null || return 0
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || echo "$pkg"
    done
}

# Install Debian packages that are not installed yet (needs root or sudo; on other systems
# it only says what to install).
install_debian_packages() {
    local missing=()
    mapfile -t missing < <(missing_debian_packages "$@")
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null; then
        echo "Please install: ${missing[*]}" >&2
        return 0
    fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# What the window needs, for scripts/start: installed when root or sudo can do it, otherwise one
# line saying what to install. Never stops the start: the command line works without them.
offer_debian_packages() {
    [ "$(uname -s)" = "Linux" ] || return 0
    local missing=()
    mapfile -t missing < <(missing_debian_packages "$@")
    [ ${#missing[@]} -eq 0 ] && return 0
    local can_install=""
    if command -v apt-get >/dev/null; then
        if [ "$(id -u)" -eq 0 ]; then
            can_install=yes
        elif command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
            can_install=yes
        fi
    fi
    if [ -n "$can_install" ] && install_debian_packages "${missing[@]}"; then
        return 0
    fi
    echo "The Postdesk window needs these packages: sudo apt-get install" \
        "--no-install-recommends ${missing[*]} (the command line works without them)." >&2
}

# Create .venv with Python 3.11+ and install the project (editable) with the given extras.
ensure_venv() {
    local target="$1"
    local python="${PYTHON:-python3}"
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv
        .venv/bin/python -m pip install -q --upgrade pip
    fi
    .venv/bin/python -m pip install -q -e "$target"
}
