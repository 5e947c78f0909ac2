# Build the Postdesk installer for Windows (x64).
#
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1 [-Python "py -3.12"]
#
# Needs: Python 3.11+ from python.org (64-bit) and Inno Setup 6.3+ (ISCC.exe on PATH or in its
# default folder). Makes, under the repository root:
#   build\venv\                  the build environment (PyInstaller and dependencies)
#   build\icons\postdesk.ico     the app icon, from resources\icons\postdesk-256.png
#   dist\postdesk\               the one-folder bundle (postdesk.exe, postdesk-cli.exe)
#   dist\Postdesk-<version>-windows-x64-setup.exe   the installer
param(
    [string]$Python = "py -3"
)
$ErrorActionPreference = "Stop"
$Root = Resolve-Path (Join-Path $PSScriptRoot "..\..")
Set-Location $Root
$Started = Get-Date

function Invoke-Checked {
    # Run a program and stop the build when it fails (PowerShell does not, for native programs).
    # No param block: arguments such as -m must reach the program, not PowerShell.
    $Exe, $Rest = $args
    & $Exe @Rest
    if ($LASTEXITCODE -ne 0) { throw "$Exe $Rest failed with exit code $LASTEXITCODE" }
}

# --- build environment -------------------------------------------------------------------------
$Venv = Join-Path $Root "build\venv"
$VenvPython = Join-Path $Venv "Scripts\python.exe"
if (-not (Test-Path $VenvPython)) {
    Write-Host "== Creating the build environment in build\venv"
    $Launcher, $LauncherArgs = $Python.Split(" ")
    Invoke-Checked $Launcher @($LauncherArgs | Where-Object { $_ }) -m venv $Venv
    Invoke-Checked $VenvPython -m pip install -q --upgrade pip
}
Write-Host "== Installing build requirements"
# What to install, and why the PySide6 meta package is split: see packaging\build_requirements.py.
$Requirements = & $VenvPython packaging\build_requirements.py
if ($LASTEXITCODE -ne 0) { throw "packaging\build_requirements.py failed" }
Invoke-Checked $VenvPython -m pip install -q @Requirements
$QtVersion = & $VenvPython -c `
    "from importlib.metadata import version; print(version('PySide6_Essentials'))"
Invoke-Checked $VenvPython -m pip install -q --no-deps "PySide6==$QtVersion"

$env:PYTHONPATH = "src"
$Version = & $VenvPython -c "import postdesk; print(postdesk.__version__)"
Remove-Item Env:PYTHONPATH

# --- icon --------------------------------------------------------------------------------------
# Windows wants an .ico with several sizes; Pillow makes it from the 256 px PNG.
New-Item -ItemType Directory -Force -Path build\icons | Out-Null
Invoke-Checked $VenvPython -c @"
from PIL import Image
Image.open('resources/icons/postdesk-256.png').save(
    'build/icons/postdesk.ico', sizes=[(n, n) for n in (16, 24, 32, 48, 64, 128, 256)])
"@

# --- bundle ------------------------------------------------------------------------------------
Write-Host "== Building dist\postdesk (Postdesk $Version)"
Invoke-Checked $VenvPython -m PyInstaller --noconfirm --log-level WARN --distpath dist `
    --workpath build\pyinstaller packaging\postdesk.spec

# A quick check that the bundle starts; packaging\README.md lists the full manual checks.
$Reported = & .\dist\postdesk\postdesk-cli.exe --version
if ($LASTEXITCODE -ne 0 -or $Reported -ne "Postdesk $Version") {
    throw "dist\postdesk\postdesk-cli.exe --version printed '$Reported'"
}
$Shot = Join-Path $env:TEMP "postdesk-smoke.png"
$env:QT_QPA_PLATFORM = "offscreen"
$env:POSTDESK_HOME = Join-Path $env:TEMP "postdesk-smoke-home"
Invoke-Checked .\dist\postdesk\postdesk-cli.exe gui --screenshot $Shot
Remove-Item Env:QT_QPA_PLATFORM, Env:POSTDESK_HOME
if ((Get-Item $Shot).Length -eq 0) { throw "The screenshot $Shot is empty" }

# --- installer ---------------------------------------------------------------------------------
$Iscc = (Get-Command ISCC.exe -ErrorAction SilentlyContinue).Source
if (-not $Iscc) {
    $Iscc = Join-Path ${env:ProgramFiles(x86)} "Inno Setup 6\ISCC.exe"
}
if (-not (Test-Path $Iscc)) {
    throw "Inno Setup's ISCC.exe was not found. Install Inno Setup 6.3 or newer, then run again."
}
Write-Host "== Building the installer"
Invoke-Checked $Iscc /Q "/DAppVersion=$Version" packaging\windows\postdesk.iss

$Setup = Get-Item "dist\Postdesk-$Version-windows-x64-setup.exe"
$Unpacked = (Get-ChildItem -Recurse -File dist\postdesk | Measure-Object -Sum Length).Sum
"{0,-24} {1,10:N1} MiB" -f "bundle (unpacked)", ($Unpacked / 1MB)
"{0,-24} {1,10:N1} MiB" -f "installer", ($Setup.Length / 1MB)
"Done in {0:N0}s: {1}" -f ((Get-Date) - $Started).TotalSeconds, $Setup.FullName
