//! Audio devices through cpal (ALSA on Linux). Listing can block for a moment while ALSA probes
//! cards, so callers off the audio path use `list_async`, which runs it on a blocking thread.

use cpal::traits::{DeviceTrait, HostTrait};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Devices {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// Why nothing could be listed, in words.
    pub error: Option<String>,
}

pub fn list() -> Devices {
    super::device::silence_alsa();
    let host = cpal::default_host();
    let names = |it: Result<_, cpal::DevicesError>| -> Result<Vec<String>, String> {
        let devices: Box<dyn Iterator<Item = cpal::Device>> =
            it.map_err(|e: cpal::DevicesError| e.to_string())?;
        Ok(devices.filter_map(|d| d.name().ok()).collect())
    };
    let inputs = names(
        host.input_devices()
            .map(|d| Box::new(d) as Box<dyn Iterator<Item = _>>),
    );
    let outputs = names(
        host.output_devices()
            .map(|d| Box::new(d) as Box<dyn Iterator<Item = _>>),
    );
    let error = match (&inputs, &outputs) {
        (Err(e), _) | (_, Err(e)) => Some(format!("Cannot list audio devices: {e}")),
        (Ok(i), Ok(o)) if i.is_empty() && o.is_empty() => Some("No audio devices found".into()),
        _ => None,
    };
    Devices {
        inputs: inputs.unwrap_or_default(),
        outputs: outputs.unwrap_or_default(),
        error,
    }
}

pub async fn list_async() -> Devices {
    tokio::task::spawn_blocking(list)
        .await
        .unwrap_or_else(|e| Devices {
            error: Some(format!("Cannot list audio devices: {e}")),
            ..Default::default()
        })
}
