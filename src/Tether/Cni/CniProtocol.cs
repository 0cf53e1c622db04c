namespace Tether.Cni;

/// <summary>
/// What both halves of tether-cni share: the thin front (<c>tether-cni</c>, which hands commands to tetherd) and the plugin that does the work (<c>Plugin</c>, in <c>tether-cni-local</c>
/// and in tetherd).
/// </summary>
public static class CniProtocol
{
    /// <summary>The cniVersions tether-cni accepts (CNI spec 1.1.0, SPEC.md "VERSION"), oldest first.</summary>
    public static readonly string[] SupportedVersions = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

    /// <summary>The spec version of tether-cni's own answers (VERSION, and errors for configs of an unknown version).</summary>
    public const string LatestVersion = "1.1.0";

    /// <summary>The environment variables of one request: SPEC.md "Parameters" (CNI_*), and Tether's state and run dirs
    /// (the config's <c>stateDir</c>/<c>runDir</c> override them). tether-cni hands exactly these to tetherd, as request
    /// headers of the same names, and a delegated IPAM plugin is given the CNI_* ones.</summary>
    public static readonly string[] Variables = ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH", "TETHER_STATE_DIR", "TETHER_RUN_DIR"];

    /// <summary>tetherd's endpoint for a CNI command, and the header of its answer that carries the plugin's exit code.</summary>
    public const string Endpoint = "/v1/cni", ExitHeader = "X-Cni-Exit";

    /// <summary>The full plugin beside the thin front: <c>tether-cni</c> execs it when no tetherd serves a call.</summary>
    public const string LocalBinary = "tether-cni-local";
}
