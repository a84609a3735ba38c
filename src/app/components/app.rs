//! The app shell: header and the Tensor page.

use yew::prelude::*;

use super::tensor_page::TensorPage;

#[function_component(App)]
pub fn app() -> Html {
    html! {
        <>
            <header class="top">
                <h1><span class="logo">{"q"}</span>{"play"}</h1>
                <p class="tagline">{"the quantization playground: scale, zero point and error, live in your browser"}</p>
            </header>
            <main>
                <TensorPage />
            </main>
        </>
    }
}
