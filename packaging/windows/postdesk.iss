; Inno Setup script for the Postdesk installer (Inno Setup 6.3 or newer).
;
; Built by packaging\windows\build.ps1, which first makes dist\postdesk\ (PyInstaller) and
; build\icons\postdesk.ico, then runs:
;   ISCC.exe /DAppVersion=<version> packaging\windows\postdesk.iss
; The installer is written to dist\Postdesk-<version>-windows-x64-setup.exe.
; Relative paths below are relative to this file's folder.

#ifndef AppVersion
  #error Pass the version: ISCC /DAppVersion=1.2.3 postdesk.iss
#endif
#define AppName "Postdesk"
#define AppExe "postdesk.exe"

[Setup]
; The AppId identifies Postdesk to Windows across versions (upgrades, uninstall). Never change it.
AppId={{6C1E8E64-3E0B-4C55-9C0D-5F2B8B7C4D21}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppName}
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Program Files needs administrator rights; the user's data stays in their own profile.
PrivilegesRequired=admin
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename={#AppName}-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\build\icons\postdesk.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
WizardStyle=modern
Compression=lzma2/max
SolidCompression=yes
; Closes a running Postdesk before files are replaced.
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole one-folder bundle: postdesk.exe (the window), postdesk-cli.exe (the command line)
; and _internal\ (Python, Qt and Postdesk's own files).
Source: "..\..\dist\postdesk\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Send email from your own domains"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

; The uninstaller removes the program folder only. The data folder (%LOCALAPPDATA%\Postdesk) and the
; passwords in Windows Credential Manager stay, so a reinstall finds everything again; see
; packaging\README.md for removing them too.
